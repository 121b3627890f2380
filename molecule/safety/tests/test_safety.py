"""Every deploy is a transaction: each mistake below is made under load (a client asking for /
throughout), and for each the run stops by itself, no request fails, the release that served
before still serves, and the message names the step that failed and the release serving now.

The tests run in this order on one host: the refused mistakes, a release that fails only once it
serves (rolled back), a change of code under the same version, two runs at once, secrets in
check mode, a link in the app's path, then a good release and a rerun that changes nothing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from quote_testlib import (PROJECT_DIR, deploy, http_get, molecule_hosts, playbook_invocation, published_port,
                           recap, run_playbook, traffic)

testinfra_hosts = molecule_hosts()

APP = PROJECT_DIR / "files" / "app"
CURRENT = "/opt/quote-app/current"
# One request to / every 0.15 s: under the site's rate limit, so any failure is the deploy's. A
# request may wait as long as nginx waits for the app (nginx_proxy_read_timeout), as a browser would.
INTERVAL = 0.15
TIMEOUT = 30
SECRET = "s3cr3t-Passw0rd"


def served(site_url: str) -> dict:
    return http_get(site_url + "/healthz").json()


def live_state(host) -> dict[str, str]:
    """What serves: the current release, the live unit, the code it runs, its settings."""
    return {
        "current": host.file(CURRENT).linked_to,
        "unit": host.file("/etc/systemd/system/quote-app.service").sha256sum,
        "app.py": host.file(f"{CURRENT}/app.py").sha256sum,
        "gunicorn.env": host.file(f"{CURRENT}/gunicorn.env").sha256sum,
        "pid": host.check_output("systemctl show -P MainPID quote-app.service"),
    }


def app_copy(tmp_path: Path, change: Callable[[Path], None]) -> Path:
    copy = shutil.copytree(APP, tmp_path / "app")
    change(copy)
    return copy


def append(relative: str, text: str) -> Callable[[Path], None]:
    return lambda app: (app / relative).write_text((app / relative).read_text(encoding="utf-8") + text,
                                                   encoding="utf-8")


def break_template(app: Path) -> None:
    page = app / "templates" / "index.html"
    page.write_text(page.read_text(encoding="utf-8").replace("{{ quote.film }}", "{{ quote.film }"),
                    encoding="utf-8")


def edit_requirements(old: str, new: str) -> Callable[[Path], None]:
    def change(app: Path) -> None:
        pins = app / "requirements.txt"
        pins.write_text(pins.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    return change


CANDIDATE = "Refuse the release that failed its candidate check"


# id: (extra variables, change to the app's code or None, what the message must say[, step that fails])
MISTAKES = {
    "bad environment value": (
        {"quote_app_version": "2", "quote_app_environment": {
            "QUOTE_APP_UPSTREAM_URL": f"http://deploy:{SECRET}@quotes.invalid/api",
            "QUOTE_APP_UPSTREAM_TIMEOUT": "eventually"}},
        None, "QUOTE_APP_UPSTREAM_TIMEOUT must be a number of seconds"),
    "unknown gunicorn option": (
        {"quote_app_version": "2", "gunicorn_extra_args": ["--no-such-flag"]},
        None, "unrecognized arguments: --no-such-flag"),
    "template syntax error": ({"quote_app_version": "2"}, break_template, "GET / answered 500, expected 200"),
    "import error": (
        {"quote_app_version": "2"}, append("app.py", "\nraise RuntimeError('this release is broken')\n"),
        "this release is broken"),
    # requests is the app's own dependency (upstream.py), not one of flask's or gunicorn's.
    "missing dependency": (
        {"quote_app_version": "2"}, edit_requirements("requests==", "# requests=="), "No module named 'requests'"),
    "requirement pip cannot install": (
        {"quote_app_version": "2"}, edit_requirements("flask==", "quote-app-no-such-package==1.0\nflask=="),
        "quote-app-no-such-package", "Install the pinned requirements into the virtualenv"),
    "hangs at import": (
        {"quote_app_version": "2", "gunicorn_candidate_timeout": 8},
        append("app.py", "\nimport time\ntime.sleep(3600)\n"), "GET / got no answer within 8 s"),
    # Without AF_UNIX gunicorn cannot tell systemd it is ready: it answers, but its start would
    # time out as the live service, and the live unit file would change before anything else.
    "sandbox that breaks the app": (
        {"gunicorn_address_families": ["AF_INET"], "gunicorn_candidate_timeout": 8}, None,
        "it never told systemd it was ready"),
    "probe the operator added": (
        {"quote_app_version": "2", "gunicorn_candidate_probes": [
            {"path": "/", "status": 200}, {"path": "/healthz", "status": 200}, {"path": "/api/quotes", "status": 200}]},
        None, "GET /api/quotes answered 404, expected 200"),
    "changed code under the same version": ({}, break_template, "GET / answered 500, expected 200"),
}


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_mistake_is_refused_while_the_site_serves(host, site_url, tmp_path, mistake):
    extra, change, expected, *step = MISTAKES[mistake]
    before, state = served(site_url), live_state(host)
    if change:
        extra = {**extra, "quote_app_source_dir": str(app_copy(tmp_path, change))}
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy(**extra)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert set(seen) == {200}, seen
    assert served(site_url) == before
    assert live_state(host) == state
    assert expected in output, output[-3000:]
    summary = re.search(r'The deploy of release (\S+) to \S+ stopped at "([^"]+)".*?Serving now: release (\S+) ',
                        output, re.S)
    assert summary, output[-3000:]
    # The release it tried (the same one when only the live unit would have changed).
    assert summary.group(1).startswith(extra.get("quote_app_version", before["version"]) + "-")
    assert summary.group(2) == (step[0] if step else CANDIDATE)
    assert summary.group(3) == before["release"]
    assert SECRET not in output
    assert host.run("systemctl is-active quote-deploy-lock.service").stdout.strip() != "active"


def test_the_firewall_is_up_even_when_the_run_fails_after_validation(host, site_url, tmp_path):
    """As on a first run whose package index is down: UFW is enabled before anything can fail."""
    host.check_output("ufw --force disable")
    app = app_copy(tmp_path, edit_requirements("flask==", "quote-app-no-such-package==1.0\nflask=="))
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy(quote_app_version="2", quote_app_source_dir=str(app))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert 'stopped at "Install the pinned requirements into the virtualenv"' in output, output[-3000:]
    assert set(seen) == {200}, seen
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status and "deny (incoming)" in status, status


SITE_FILE = "/etc/nginx/sites-available/quote-app.conf"


def hold_port(host, port: int) -> str:
    """Another program listening on *port* (a transient unit, gone when stopped); its PID."""
    host.check_output(f"systemd-run --unit=port-holder-{port} --collect python3 -m http.server {port} --bind 0.0.0.0")
    for _ in range(50):
        if f":{port} " in host.check_output("ss -Hltn"):
            return host.check_output(f"systemctl show -P MainPID port-holder-{port}")
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_a_site_port_another_program_holds_is_named_before_anything_changes(host, site_url):
    pid = hold_port(host, 8081)
    site = host.file(SITE_FILE).sha256sum
    try:
        with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
            result = deploy(nginx_listen_port=8081)
    finally:
        host.run("systemctl stop port-holder-8081")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"port 8081 is held by python3 (pid {pid})" in output and "Nothing was changed" in output, output[-3000:]
    assert set(seen) == {200}, seen
    assert host.file(SITE_FILE).sha256sum == site
    assert "8081" not in host.check_output("ufw show added")  # stopped before the firewall


def test_a_reload_nginx_refuses_puts_the_files_back_and_says_so(host, site_url):
    """nginx -t does not bind ports: a listen on a port another program holds passes it, and
    `systemctl reload` returns 0, while nginx keeps its previous configuration. The same run
    moves the site to port 8083: the firewall opened it early, and keeps port 80 open, where
    nginx still serves, since ports close only at the end of a run that got there."""
    hold_port(host, 8082)
    site = host.file(SITE_FILE).sha256sum
    try:
        with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
            result = deploy(nginx_listen_port=8083, nginx_extra_directives=["listen 8082;"])
    finally:
        host.run("systemctl stop port-holder-8082")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "the previous files were put back" in output, output[-3000:]
    assert "nginx kept its previous configuration" in output and "bind() to 0.0.0.0:8082 failed" in output
    assert set(seen) == {200}, seen
    assert host.file(SITE_FILE).sha256sum == site
    # The files on disk are what nginx runs: the next run changes nothing of nginx's.
    assert host.run("nginx -t").rc == 0
    added = host.check_output("ufw show added")
    assert "ufw allow 80/tcp comment 'quote-app'" in added and "ufw allow 8083/tcp" in added, added


def test_release_that_fails_once_it_serves_is_rolled_back(host, site_url, tmp_path):
    """It passes its candidate check and crashes as the live service: the run switches back."""
    before = served(site_url)
    source = app_copy(tmp_path, append("wsgi.py", (
        "\nimport sys\nif 'gunicorn' in sys.modules and 'candidate' not in open('/proc/self/cgroup').read():\n"
        "    raise RuntimeError('crashes once served')\n")))
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy(quote_app_version="3", quote_app_source_dir=str(source))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert set(seen) == {200}, seen
    assert served(site_url) == before
    assert host.file(CURRENT).linked_to == f"/opt/quote-app/releases/{before['release']}"
    assert "failed its health check through the web server after the switch" in output
    assert f"Rolled back to release {before['release']}, which serves again" in output
    assert f"Serving now: release {before['release']} " in output


def test_changed_code_under_the_same_version_is_a_new_release(host, site_url, tmp_path):
    """Same label, other content: a release of its own, never copied over the one serving."""
    before = served(site_url)
    old_page = host.file(f"{CURRENT}/templates/index.html").sha256sum
    source = app_copy(tmp_path, lambda app: (app / "templates" / "index.html").write_text(
        (APP / "templates" / "index.html").read_text(encoding="utf-8").replace("Quote of the day", "Quote du jour"),
        encoding="utf-8"))
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy(quote_app_version=before["version"], quote_app_source_dir=str(source))
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(seen) == {200}, seen
    after = served(site_url)
    assert after["version"] == before["version"] and after["release"] != before["release"]
    assert "Quote du jour" in http_get(site_url + "/").body
    assert host.file(f"/opt/quote-app/releases/{before['release']}/templates/index.html").sha256sum == old_page
    assert host.file("/opt/quote-app/previous").linked_to == f"/opt/quote-app/releases/{before['release']}"


def lock_is_held(host) -> bool:
    return host.run("systemctl is-active quote-deploy-lock.service").stdout.strip() == "active"


def test_a_second_run_stops_at_once_while_one_deploys(host, site_url):
    argv, env = playbook_invocation("-e", json.dumps({"quote_app_version": "4"}))
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        first = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            waited = time.monotonic()
            while not lock_is_held(host):
                assert first.poll() is None, first.stdout.read()[-3000:]
                assert time.monotonic() - waited < 300, "the first run never took the lock"
                time.sleep(0.2)
            second = deploy(quote_app_version="5")
        finally:
            first_output = first.communicate(timeout=900)[0]
    output = second.stdout + second.stderr
    assert second.returncode != 0
    assert "Another run is changing this host" in output and "This run changed nothing" in output, output[-3000:]
    assert recap(second.stdout)[host.backend.name]["changed"] == 0
    assert first.returncode == 0, first_output[-3000:]
    assert served(site_url)["version"] == "4"
    assert set(seen) == {200}, seen
    assert not lock_is_held(host)


def test_check_mode_with_diff_never_prints_the_apps_secrets(host):
    result = run_playbook("--check", "--diff", "-e", json.dumps({
        "quote_app_version": "6", "quote_app_environment": {"QUOTE_APP_API_TOKEN": SECRET}}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    # The new release's environment file would be written, and its content is not shown.
    assert "Write the release's environment file" in output
    assert recap(result.stdout)[host.backend.name]["changed"] > 0
    assert SECRET not in output


def test_a_link_in_the_apps_path_never_prunes_what_serves(host, site_url):
    """With /opt a link to /srv/opt, the links' targets resolve to other paths than the
    releases are found under: pruning compares release names, so it keeps what serves."""
    host.check_output("mv /opt /srv/opt && ln -s /srv/opt /opt")
    for version in ("7", "8", "9"):
        result = deploy(quote_app_version=version)
        assert result.returncode == 0, result.stdout[-3000:]
    now = served(site_url)
    assert now["version"] == "9"
    assert host.file(f"/srv/opt/quote-app/releases/{now['release']}/app.py").exists
    assert host.file(host.file(f"{CURRENT}/venv").linked_to + "/bin/gunicorn").exists
    assert host.file("/opt/quote-app/previous").linked_to.startswith("/srv/opt/quote-app/releases/8-")
    assert len(host.file("/srv/opt/quote-app/releases").listdir()) <= 5  # 3 kept, current, previous


def test_a_good_release_deploys_and_a_rerun_changes_nothing(host, site_url):
    with traffic(site_url + "/", INTERVAL, TIMEOUT) as seen:
        result = deploy(quote_app_version="10")
    assert result.returncode == 0, result.stdout[-3000:]
    assert set(seen) == {200}, seen
    assert served(site_url)["version"] == "10"
    rerun = deploy(quote_app_version="10")
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    assert recap(rerun.stdout)[host.backend.name]["changed"] == 0, rerun.stdout[-3000:]


def test_the_host_serves_the_same_release_again_after_a_reboot(host, site_url):
    """systemd shuts the host down and boots it again (the container restarts): everything the
    playbook enabled comes back, the firewall included."""
    before = served(site_url)
    subprocess.run(["podman", "restart", "--time", "60", host.backend.name], check=True, capture_output=True)
    url = f"http://127.0.0.1:{published_port(host.backend.name, 80)}"  # podman may publish it anew
    waited = time.monotonic()
    while True:
        try:
            if http_get(url + "/healthz", timeout=3).status == 200:
                break
        except OSError:
            pass
        assert time.monotonic() - waited < 180, "the site did not come back after the reboot"
        time.sleep(1)
    assert served(url) == before
    assert http_get(url + "/").status == 200
    assert host.check_output("ufw status").startswith("Status: active")
    for unit in ("nginx.service", "quote-app.socket", "quote-app.service"):
        assert host.check_output(f"systemctl is-active {unit}") == "active", unit
