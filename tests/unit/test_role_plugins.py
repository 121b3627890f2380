"""The roles' own plugins and modules, run as plain Python: the release digest lookup, the
candidate probe, the health wait after a switch, the check for files changed since a start and
nginx's reload that waits for the new configuration's workers."""

from __future__ import annotations

import http.server
import itertools
import json
import os
import socketserver
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ansible.errors import AnsibleLookupError
from role_templar import load_module

ROOT = Path(__file__).resolve().parents[2]


load = load_module


tree = load("roles/quote_app/lookup_plugins/tree_digest.py")
probe = load("roles/gunicorn/library/gunicorn_probe.py")
health = load("roles/quote_release/library/quote_release_health.py")
changed = load("roles/quote_release/library/quote_release_changed_files.py")


class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


# --- tree_digest --------------------------------------------------------------


@pytest.fixture
def app_tree(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "app.py").write_text("print('hi')\n", encoding="utf-8")
    (tmp_path / "templates" / "index.html").write_text("<p>{{ x }}</p>\n", encoding="utf-8")
    return tmp_path


def test_digest_is_stable_and_ignores_timestamps(app_tree):
    first = tree.tree_digest(app_tree)
    os.utime(app_tree / "app.py", (1, 1))
    assert tree.tree_digest(app_tree) == first
    assert len(first) == 64


@pytest.mark.parametrize(
    "change",
    [
        lambda t: (t / "app.py").write_text("print('bye')\n", encoding="utf-8"),
        lambda t: (t / "new.txt").write_text("", encoding="utf-8"),
        lambda t: (t / "templates" / "index.html").rename(t / "templates" / "main.html"),
        lambda t: (t / "app.py").chmod(0o755),
        lambda t: (t / "link").symlink_to("app.py"),
    ],
    ids=["content", "new file", "rename", "executable", "link"],
)
def test_any_change_a_copy_would_make_changes_the_digest(app_tree, change):
    before = tree.tree_digest(app_tree)
    change(app_tree)
    assert tree.tree_digest(app_tree) != before


def test_digest_of_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(AnsibleLookupError, match="not a directory"):
        tree.tree_digest(tmp_path / "missing")


# --- an HTTP server for the probes --------------------------------------------


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict]] = {}

    def do_GET(self) -> None:  # noqa: N802
        status, body = self.routes.get(self.path, (404, {}))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):  # noqa: ANN201
        request, _ = super().get_request()
        return request, ("local", 0)


@contextmanager
def serving(routes: dict[str, tuple[int, dict]], unix: bool) -> Iterator[str]:
    Handler.routes = routes
    with tempfile.TemporaryDirectory() as directory:
        if unix:
            address = os.path.join(directory, "app.sock")
            server = UnixServer(address, Handler)
        else:
            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            address = f"http://127.0.0.1:{server.server_address[1]}/healthz"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield address
        finally:
            server.shutdown()
            server.server_close()


def probe_params(socket_path: str, probes: list[dict], deadline: float = 20) -> dict:
    return {"unix_socket": socket_path, "probes": probes, "deadline": deadline, "timeout": 1, "unit": None}


# --- gunicorn_probe -----------------------------------------------------------


def test_probe_passes_when_every_page_answers_as_expected():
    with serving({"/": (200, {}), "/healthz": (200, {})}, unix=True) as path:
        results, failure = probe.probe(probe_params(path, [{"path": "/", "status": 200},
                                                           {"path": "/healthz", "status": 200}]))
    assert failure == ""
    assert [(r["path"], r["status"]) for r in results] == [("/", 200), ("/healthz", 200)]


def test_probe_fails_at_the_first_wrong_status_without_waiting():
    clock = FakeClock()
    with serving({"/": (500, {})}, unix=True) as path:
        results, failure = probe.probe(probe_params(path, [{"path": "/", "status": 200}]), clock, clock.sleep)
    assert failure == "GET / answered 500, expected 200"
    assert clock.now == 0


def test_probe_without_an_answer_gives_up_at_the_deadline(tmp_path):
    clock = FakeClock()
    results, failure = probe.probe(probe_params(str(tmp_path / "nobody.sock"), [{"path": "/", "status": 200}],
                                                deadline=5), clock, clock.sleep)
    assert failure.startswith("GET / got no answer within 5 s")
    assert 5 <= clock.now <= 5.5


def test_probe_stops_early_when_the_unit_failed(tmp_path, monkeypatch):
    monkeypatch.setattr(probe, "unit_state", lambda unit: "failed")
    clock = FakeClock()
    params = probe_params(str(tmp_path / "nobody.sock"), [{"path": "/", "status": 200}])
    params["unit"] = "candidate.service"
    _, failure = probe.probe(params, clock, clock.sleep)
    assert "candidate.service failed" in failure
    assert clock.now == 0


def test_probe_fails_when_the_unit_answers_but_never_becomes_ready(monkeypatch):
    monkeypatch.setattr(probe, "unit_state", lambda unit: "activating")
    clock = FakeClock()
    params = probe_params("", [{"path": "/", "status": 200}], deadline=4)
    params["unit"] = "candidate.service"
    with serving({"/": (200, {})}, unix=True) as path:
        params["unix_socket"] = path
        _, failure = probe.probe(params, clock, clock.sleep)
    assert failure.startswith("every page answered, but candidate.service is activating, not active")
    assert 4 <= clock.now <= 4.5


# --- quote_release_health -----------------------------------------------------


def health_params(url: str, release: str = "2-abc", deadline: float = 20) -> dict:
    return {"url": url, "host": "localhost", "release": release, "deadline": deadline, "timeout": 1, "unit": None}


def test_health_wait_returns_once_the_release_answers():
    with serving({"/healthz": (200, {"release": "2-abc"})}, unix=False) as url:
        result, failure = health.wait(health_params(url))
    assert failure == "" and result["answered"] == "2-abc"


def test_an_app_whose_health_check_names_no_release_passes_with_a_200():
    with serving({"/healthz": (200, {"status": "fine"})}, unix=False) as url:
        result, failure = health.wait(health_params(url))
    assert failure == "" and result["status"] == 200


def test_health_wait_keeps_asking_until_the_deadline_while_another_release_answers():
    clock = FakeClock()
    with serving({"/healthz": (200, {"release": "1-old"})}, unix=False) as url:
        result, failure = health.wait(health_params(url, deadline=3), clock, clock.sleep, lambda unit: ("active", 2))
    assert "did not report release 2-abc within 3 s (last: HTTP 200, release 1-old)" in failure
    assert 3 <= clock.now <= 3.5


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([("active", 3), ("activating", 3)], "app.service stopped running (activating)"),
        ([("active", 3), ("active", 4)], "app.service crashed and was restarted by systemd"),
    ],
    ids=["no longer active", "restarted since the wait began"],
)
def test_health_wait_stops_at_once_when_the_service_crashed(states, expected):
    clock = FakeClock()
    readings = iter(states)
    params = {**health_params("http://127.0.0.1:9/healthz"), "unit": "app.service"}
    _, failure = health.wait(params, clock, clock.sleep, lambda unit: next(readings))
    assert failure == expected
    assert clock.now == 0


# --- quote_release_changed_files ----------------------------------------------


def test_files_changed_after_a_start_are_found_through_links(tmp_path):
    release = tmp_path / "releases" / "1"
    release.mkdir(parents=True)
    (release / "old.py").write_text("", encoding="utf-8")
    (release / "new.py").write_text("", encoding="utf-8")
    os.utime(release / "old.py", (100, 100))
    os.utime(release, (100, 100))
    (tmp_path / "current").symlink_to(release)
    os.utime(tmp_path / "current", (100, 100), follow_symlinks=False)
    assert changed.changed_after([str(tmp_path / "current")], since=200) == [str(release / "new.py")]
    assert changed.changed_after([str(tmp_path / "missing")], since=0) == []


def test_a_monotonic_start_time_becomes_wall_clock_time():
    just_now = int(time.monotonic() * 1_000_000) - 2_000_000
    assert abs(changed.started_at(just_now) - (time.time() - 2)) < 0.5


def test_changed_files_are_capped(tmp_path):
    for number in itertools.islice(itertools.count(), 15):
        (tmp_path / f"f{number}").write_text("", encoding="utf-8")
    assert len(changed.changed_after([str(tmp_path)], since=0)) == 10


def test_a_link_switched_after_the_start_counts_itself(tmp_path):
    old, new = tmp_path / "releases" / "1", tmp_path / "releases" / "2"
    old.mkdir(parents=True)
    new.mkdir()
    for path in (old, new):
        os.utime(path, (100, 100))
    current = tmp_path / "current"
    current.symlink_to(new)
    os.utime(current, (300, 300), follow_symlinks=False)
    assert changed.changed_after([str(current)], since=200) == [str(current)]
    assert changed.changed_after([str(current)], since=400) == []


# --- nginx_reload ---------------------------------------------------------------------------

reload = load("roles/nginx/library/nginx_reload.py")


def test_the_children_of_a_process_are_read_from_proc():
    import subprocess
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert child.pid in reload.children(os.getpid())
        assert child.pid not in reload.children(child.pid)
    finally:
        child.kill()
        child.wait()


def test_log_since_reads_what_was_written_after_the_offset_or_all_after_a_rotation(tmp_path):
    log = tmp_path / "error.log"
    log.write_text("old line\n")
    offset = reload.log_size(str(log))
    with log.open("a") as stream:
        stream.write('[emerg] bind() to 0.0.0.0:8081 failed (98: Address already in use)\n')
    assert reload.log_since(str(log), offset) == '[emerg] bind() to 0.0.0.0:8081 failed (98: Address already in use)\n'
    log.write_text("rotated\n")  # shorter than the offset: a new file
    assert reload.log_since(str(log), offset) == "rotated\n"
    assert reload.log_since(str(tmp_path / "missing.log"), 0) == ""


def run_reload(monkeypatch, tmp_path, generations: list[set[int]], log_after: str = "") -> tuple[bool, dict]:
    """reload_and_wait's result when the master's children are *generations* over successive reads."""
    (tmp_path / "nginx.pid").write_text("100\n")
    log = tmp_path / "error.log"
    log.write_text("before\n")
    reads = itertools.chain(generations, itertools.repeat(generations[-1]))
    monkeypatch.setattr(reload, "children", lambda pid: next(reads))
    clock = FakeClock()
    monkeypatch.setattr(reload.time, "monotonic", clock)
    monkeypatch.setattr(reload.time, "sleep", clock.sleep)

    def systemctl(argv, **kwargs):
        with log.open("a") as stream:
            stream.write(log_after)
        return reload.subprocess.CompletedProcess(argv, 0, "", "")
    monkeypatch.setattr(reload.subprocess, "run", systemctl)
    return reload.reload_and_wait(str(tmp_path / "nginx.pid"), str(log), 2, "nginx.service")


def test_reload_passes_once_workers_of_a_new_generation_run(monkeypatch, tmp_path):
    ok, result = run_reload(monkeypatch, tmp_path, [{101, 102}, {101, 102}, {101, 102, 201}])
    assert ok and result["workers"] == [201]


def test_a_reload_nginx_refuses_fails_with_its_reason(monkeypatch, tmp_path):
    emerg = "2026/12/02 07:50:01 [emerg] 100#100: bind() to 0.0.0.0:8081 failed (98: Address already in use)"
    ok, result = run_reload(monkeypatch, tmp_path, [{101, 102}], log_after="[notice] signal process started\n" + emerg + "\n")
    assert not ok
    assert result["msg"] == "nginx kept its previous configuration: " + emerg
    assert "before" not in result["log"]


def test_a_reload_without_new_workers_or_reason_fails_at_the_deadline(monkeypatch, tmp_path):
    ok, result = run_reload(monkeypatch, tmp_path, [{101}])
    assert not ok and result["msg"].endswith("no new workers within 2 s")


def test_reload_without_a_running_nginx_says_so(tmp_path):
    ok, result = reload.reload_and_wait(str(tmp_path / "missing.pid"), str(tmp_path / "error.log"), 1, "nginx.service")
    assert not ok and result["msg"].startswith("nginx is not running")
