"""The optional upstream quotes API (files/app/upstream.py) and how the app uses it.

A fake upstream runs on loopback (a real http.server in a thread, random
port) and misbehaves on demand. Whatever it does, a page view must stay fast
and 200, because requests only read the in-memory pool.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import upstream as upstream_module
from app import create_app
from flask import Flask
from markupsafe import escape
from quotes import Quote
from upstream import (
    JITTER,
    MAX_BACKOFF_FACTOR,
    QuotePool,
    UpstreamConfig,
    UpstreamConfigError,
    UpstreamError,
    UpstreamRefresher,
    fetch_quotes,
    parse_payload,
)

# Small numbers keep the whole file to a few seconds.
TIMEOUT = 0.1
INTERVAL = 0.04
# A request served from memory takes a few ms; this leaves ample slack.
FAST = 0.2
WAIT = 5.0  # upper bound for waiting on the background thread

GOOD_QUOTES = [
    {"film": "Upstream One", "content": "First quote from the API."},
    {"film": "Upstream Two", "content": "Second quote from the API."},
    {"film": "Upstream Three", "content": "Third quote from the API."},
]
BUNDLED = [
    {"film": "Bundled Film", "quote": "A bundled quote."},
    {"film": "Bundled Other", "quote": "Another bundled quote."},
]


# --- the fake upstream ------------------------------------------------------


class FakeUpstream:
    """A loopback HTTP server whose behaviour is chosen by ``mode``."""

    def __init__(self) -> None:
        self.mode = "good"
        self.payload: Any = GOOD_QUOTES
        self.hits = 0
        self.release = threading.Event()  # ends slow responses at teardown
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # http.server's naming
                fake.hits += 1
                try:
                    fake.respond(self)
                except OSError:
                    pass  # the client gave up (timeout, size cap): expected

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}
        )
        self.thread.daemon = True
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/api/v1/quotes/random"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        mode = self.mode
        if mode == "slow":
            # Never answers within the client's read timeout.
            self.release.wait(WAIT)
            self._send(handler, 200, json.dumps(self.payload).encode())
        elif mode == "trickle":
            # Headers at once, then one byte per read timeout/3: no single
            # read times out, only the total deadline stops it.
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", "1000")
            handler.end_headers()
            for _ in range(1000):
                if self.release.wait(TIMEOUT / 3):
                    return
                handler.wfile.write(b" ")
                handler.wfile.flush()
        elif mode == "http-500":
            self._send(handler, 500, b'{"error": "internal"}')
        elif mode == "redirect":
            handler.send_response(302)
            handler.send_header("Location", "http://127.0.0.1:1/")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif mode == "invalid-json":
            self._send(handler, 200, b'{"film": "Jaws", "content": ')
        elif mode == "missing-fields":
            self._send(
                handler, 200, json.dumps({"title": "Jaws", "text": "Hi"}).encode()
            )
        elif mode == "huge-body":
            # No Content-Length: the client can only find out by reading.
            handler.send_response(200)
            handler.send_header("Content-Type", "application/json")
            handler.end_headers()
            handler.wfile.write(b'[{"film": "Big", "content": "')
            for _ in range(64):  # 4 MiB in all unless the client hangs up
                handler.wfile.write(b"x" * 65536)
        elif mode == "declared-huge":
            handler.send_response(200)
            handler.send_header("Content-Length", str(10 * 1024 * 1024))
            handler.end_headers()
            handler.wfile.write(b"[")
        else:
            self._send(handler, 200, json.dumps(self.payload).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)


@pytest.fixture
def fake_upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstream]:
    # A proxy from the environment must not capture loopback requests.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake = FakeUpstream()
    yield fake
    fake.close()


@pytest.fixture
def refused_url() -> str:
    """A loopback URL where nothing listens: connection refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/quotes"


@pytest.fixture
def bundled_file(write_quotes: Callable[[Any], Path]) -> Path:
    return write_quotes(BUNDLED)


@pytest.fixture
def make_app(bundled_file: Path) -> Iterator[Callable[..., Flask]]:
    """create_app with an upstream config; every refresher is stopped at the end."""
    apps: list[Flask] = []

    def _make(config: UpstreamConfig, **kwargs: Any) -> Flask:
        flask_app = create_app(str(bundled_file), upstream=config, **kwargs)
        apps.append(flask_app)
        return flask_app

    yield _make
    for flask_app in apps:
        refresher = flask_app.extensions["quote_refresher"]
        refresher.stop(timeout=WAIT)
        assert not refresher.running


def config_for(url: str, **overrides: Any) -> UpstreamConfig:
    settings: dict[str, Any] = {"timeout": TIMEOUT, "interval": INTERVAL}
    settings.update(overrides)
    return UpstreamConfig(url=url, **settings)


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.005)


def timed_get(client: Any, path: str) -> tuple[Any, float]:
    start = time.monotonic()
    response = client.get(path)
    return response, time.monotonic() - start


BUNDLED_PAIRS = {(q["film"], q["quote"]) for q in BUNDLED}
UPSTREAM_PAIRS = {(q["film"], q["content"]) for q in GOOD_QUOTES}


# --- a misbehaving upstream never slows or breaks a page --------------------

# kind -> what the refresher reports as its last error
FAILURE_KINDS = {
    "down": "ConnectionError",
    "slow": "ReadTimeout",
    "trickle": "fetch took over",
    "http-500": "HTTP 500",
    "redirect": "HTTP 302",
    "invalid-json": "not valid JSON",
    "missing-fields": "no usable quote",
    "huge-body": "bytes limit",
    "declared-huge": "bytes is over",
}


@pytest.mark.parametrize(("kind", "error"), FAILURE_KINDS.items())
def test_failing_upstream_keeps_pages_fast_and_backs_off(
    kind: str,
    error: str,
    fake_upstream: FakeUpstream,
    refused_url: str,
    make_app: Callable[..., Flask],
) -> None:
    fake_upstream.mode = kind
    url = refused_url if kind == "down" else fake_upstream.url
    flask_app = make_app(config_for(url))
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    client = flask_app.test_client()

    assert not refresher.running  # lazy: nothing runs before the first request
    delays: dict[int, float] = {}  # consecutive failures -> the delay chosen then
    deadline = time.monotonic() + WAIT
    while refresher.state().consecutive_failures < 3:
        assert time.monotonic() < deadline, refresher.state()
        for path in ("/", "/api/quote", "/healthz"):
            response, elapsed = timed_get(client, path)
            assert response.status_code == 200, path
            assert elapsed < FAST, (path, elapsed)
        assert refresher.running
        data = client.get("/api/quote").get_json()
        assert data["source"] == "bundled"
        assert (data["film"], data["quote"]) in BUNDLED_PAIRS
        assert client.get("/healthz").get_json()["upstream"] == "stale"
        state = refresher.state()
        if state.consecutive_failures and state.next_delay is not None:
            delays.setdefault(state.consecutive_failures, state.next_delay)
        time.sleep(0.005)

    state = refresher.state()
    assert state.successes == 0
    assert error in (state.last_error or ""), state.last_error
    assert len(refresher.pool) == 0
    # Backoff grows with each consecutive failure (below the cap, jitter
    # never undoes that: the next base delay is twice the last).
    counts = sorted(n for n in delays if n <= 3)
    assert len(counts) >= 2, delays
    chosen = [delays[n] for n in counts]
    assert all(a < b for a, b in itertools.pairwise(chosen)), delays
    for n, delay in delays.items():
        base = refresher.base_delay(n)
        assert base * (1 - JITTER) <= delay <= base
    if kind != "down":
        assert fake_upstream.hits >= 2


# --- a good upstream feeds the pages ----------------------------------------


def test_good_upstream_fills_pool_and_pages_show_it(
    fake_upstream: FakeUpstream, make_app: Callable[..., Flask]
) -> None:
    flask_app = make_app(config_for(fake_upstream.url))
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    client = flask_app.test_client()

    client.get("/")  # the first request starts the thread
    wait_for(lambda: len(refresher.pool) == len(GOOD_QUOTES))

    health = client.get("/healthz").get_json()
    assert health["upstream"] == "fresh"
    assert health["status"] == "ok"
    assert health["quotes"] == len(BUNDLED)
    assert health["version"] == "dev"
    for _ in range(20):
        response, elapsed = timed_get(client, "/api/quote")
        assert elapsed < FAST
        data = response.get_json()
        assert data["source"] == "upstream"
        assert set(data) == {"film", "quote", "source"}
        assert (data["film"], data["quote"]) in UPSTREAM_PAIRS
    body = client.get("/").get_data(as_text=True)
    assert any(str(escape(quote)) in body for _, quote in UPSTREAM_PAIRS)
    state = refresher.state()
    assert state.successes >= 1
    assert state.consecutive_failures == 0
    assert state.next_delay is not None
    assert INTERVAL * (1 - JITTER) <= state.next_delay <= INTERVAL


def test_single_object_payload_with_custom_field_mapping(
    fake_upstream: FakeUpstream, make_app: Callable[..., Flask]
) -> None:
    fake_upstream.payload = {"movie": " Jaws ", "line": "Bigger boat.", "id": 7}
    config = config_for(fake_upstream.url, film_field="movie", quote_field="line")
    flask_app = make_app(config)
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    client = flask_app.test_client()

    client.get("/healthz")
    wait_for(lambda: len(refresher.pool) == 1)

    assert client.get("/api/quote").get_json() == {
        "film": "Jaws",
        "quote": "Bigger boat.",
        "source": "upstream",
    }


def test_recovers_after_failures(
    fake_upstream: FakeUpstream, make_app: Callable[..., Flask]
) -> None:
    fake_upstream.mode = "http-500"
    flask_app = make_app(config_for(fake_upstream.url))
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    client = flask_app.test_client()
    client.get("/")
    wait_for(lambda: refresher.state().consecutive_failures >= 2)
    assert client.get("/healthz").get_json()["upstream"] == "stale"

    fake_upstream.mode = "good"
    wait_for(lambda: refresher.is_fresh())

    assert refresher.state().consecutive_failures == 0
    assert client.get("/healthz").get_json()["upstream"] == "fresh"
    assert client.get("/api/quote").get_json()["source"] == "upstream"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_pool_goes_stale_and_pages_fall_back(
    fake_upstream: FakeUpstream, make_app: Callable[..., Flask]
) -> None:
    clock = FakeClock()
    interval = 60.0
    flask_app = make_app(config_for(fake_upstream.url, interval=interval), clock=clock)
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    refresher.stop()  # no thread: drive it by hand
    client = flask_app.test_client()

    assert client.get("/healthz").get_json()["upstream"] == "stale"  # never fetched
    assert refresher.refresh_once() is True
    assert client.get("/healthz").get_json()["upstream"] == "fresh"
    assert client.get("/api/quote").get_json()["source"] == "upstream"

    clock.now += 3 * interval
    assert client.get("/healthz").get_json()["upstream"] == "fresh"
    clock.now += 0.001
    assert client.get("/healthz").get_json()["upstream"] == "stale"
    # The pool still holds quotes, but stale pages come from the bundled file.
    assert len(refresher.pool) == len(GOOD_QUOTES)
    assert client.get("/api/quote").get_json()["source"] == "bundled"
    assert not refresher.running


# --- the thread: lazy, per process, daemon, stoppable -----------------------


def test_thread_starts_on_first_request_and_stops(
    fake_upstream: FakeUpstream, make_app: Callable[..., Flask]
) -> None:
    flask_app = make_app(config_for(fake_upstream.url))
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    before = threading.active_count()

    assert not refresher.running
    assert threading.active_count() == before

    flask_app.test_client().get("/healthz")
    thread = refresher._thread
    assert thread is not None and thread.is_alive()
    assert thread.daemon
    flask_app.test_client().get("/")
    assert refresher._thread is thread  # one thread per process, not per request

    start = time.monotonic()
    refresher.stop(timeout=WAIT)
    assert not thread.is_alive()
    assert time.monotonic() - start < 1.0
    flask_app.test_client().get("/")
    assert not refresher.running  # a stopped refresher stays stopped


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_forked_process_gets_its_own_thread(
    fake_upstream: FakeUpstream, make_app: Callable[..., Flask]
) -> None:
    flask_app = make_app(config_for(fake_upstream.url))
    refresher: UpstreamRefresher = flask_app.extensions["quote_refresher"]
    flask_app.test_client().get("/")
    parent_thread = refresher._thread
    assert parent_thread is not None and parent_thread.is_alive()

    pid = os.fork()
    if pid == 0:  # the child, like a gunicorn worker forked from its master
        code = 1
        try:
            fresh_after_fork = refresher._thread is None and not refresher.running
            flask_app.test_client().get("/")
            thread = refresher._thread
            ok = (
                fresh_after_fork
                and thread is not None
                and thread.is_alive()
                and thread.daemon
                and refresher._thread_pid == os.getpid()
            )
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert refresher._thread is parent_thread and parent_thread.is_alive()


# --- backoff ----------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    refresher = UpstreamRefresher(config_for("http://127.0.0.1:9/", interval=60.0))

    bases = [refresher.base_delay(n) for n in range(8)]

    assert bases[:5] == [60.0, 120.0, 240.0, 480.0, 600.0]
    assert max(bases) == MAX_BACKOFF_FACTOR * 60.0
    assert refresher.base_delay(10_000) == MAX_BACKOFF_FACTOR * 60.0


def test_jittered_delays_grow_until_the_cap(refused_url: str) -> None:
    refresher = UpstreamRefresher(
        config_for(refused_url, interval=1.0), rng=random.Random(7)
    )

    delays = []
    for _ in range(6):
        assert refresher.refresh_once() is False
        delays.append(refresher.state().next_delay)

    assert delays[:3] == sorted(delays[:3]) and len(set(delays[:3])) == 3
    assert all(d is not None and d <= MAX_BACKOFF_FACTOR for d in delays)
    assert refresher.state().consecutive_failures == 6
    assert "ConnectionError" in (refresher.state().last_error or "")


# --- fetch_quotes and parse_payload -----------------------------------------


def test_fetch_quotes_reads_a_good_upstream(fake_upstream: FakeUpstream) -> None:
    with requests.Session() as session:
        quotes = fetch_quotes(session, config_for(fake_upstream.url))

    assert {(q.film, q.quote) for q in quotes} == UPSTREAM_PAIRS


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("http-500", "HTTP 500"),
        ("redirect", "HTTP 302"),
        ("invalid-json", "not valid JSON"),
        ("missing-fields", "no usable quote"),
        ("huge-body", "bytes limit"),
        ("declared-huge", "bytes is over"),
        ("slow", "ReadTimeout"),
        ("trickle", "fetch took over"),
    ],
)
def test_fetch_quotes_says_what_went_wrong(
    fake_upstream: FakeUpstream, kind: str, message: str
) -> None:
    fake_upstream.mode = kind

    start = time.monotonic()
    with requests.Session() as session, pytest.raises(UpstreamError, match=message):
        fetch_quotes(session, config_for(fake_upstream.url))

    assert time.monotonic() - start < 4 * TIMEOUT


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(None, id="null"),
        pytest.param("Jaws", id="string"),
        pytest.param(42, id="number"),
        pytest.param([], id="empty-list"),
        pytest.param({}, id="empty-object"),
        pytest.param(["Jaws"], id="list-of-strings"),
        pytest.param({"film": "Jaws"}, id="no-quote"),
        pytest.param({"film": "Jaws", "content": ""}, id="empty-quote"),
        pytest.param({"film": "   ", "content": "Hi"}, id="blank-film"),
        pytest.param({"film": "Jaws", "content": 42}, id="quote-not-str"),
        pytest.param({"film": ["Jaws"], "content": "Hi"}, id="film-not-str"),
        pytest.param({"film": "Jaws", "content": "x" * 5000}, id="quote-too-long"),
        pytest.param({"film": "J" * 500, "content": "Hi"}, id="film-too-long"),
        pytest.param({"film": "Jaws", "content": "Hi\x00there"}, id="control-char"),
    ],
)
def test_parse_payload_rejects_garbage(payload: Any) -> None:
    with pytest.raises(UpstreamError):
        parse_payload(payload, "film", "content")


def test_parse_payload_keeps_the_usable_entries() -> None:
    payload = [
        {"film": "Jaws", "content": "  Bigger boat.\n"},
        {"film": "Broken"},
        "garbage",
        {"film": "Rocky", "content": "Yo, Adrian!", "extra": [1, 2]},
    ]

    assert parse_payload(payload, "film", "content") == [
        Quote(film="Jaws", quote="Bigger boat."),
        Quote(film="Rocky", quote="Yo, Adrian!"),
    ]


def test_quote_pool_is_bounded_and_deduplicated() -> None:
    pool = QuotePool(maxlen=3, rng=random.Random(1))
    quotes = [Quote(film=f"F{i}", quote=f"Q{i}") for i in range(5)]

    assert pool.random() is None
    assert pool.add(quotes[:2]) == 2
    assert pool.add(quotes[:2]) == 0
    assert pool.add(quotes[2:]) == 3

    assert len(pool) == 3
    assert {pool.random() for _ in range(100)} == set(quotes[2:])


# --- configuration from the environment -------------------------------------


def test_from_env_is_off_without_url() -> None:
    assert UpstreamConfig.from_env({}) is None
    assert UpstreamConfig.from_env({"QUOTE_APP_UPSTREAM_URL": "  "}) is None
    assert UpstreamConfig.from_env({"QUOTE_APP_UPSTREAM_TIMEOUT": "5"}) is None


def test_from_env_defaults() -> None:
    config = UpstreamConfig.from_env(
        {"QUOTE_APP_UPSTREAM_URL": "https://quotes.example/api/random"}
    )

    assert config == UpstreamConfig(
        url="https://quotes.example/api/random",
        timeout=2.0,
        interval=60.0,
        film_field="film",
        quote_field="content",
        pool_size=50,
        max_bytes=64 * 1024,
    )
    assert config.origin == "https://quotes.example"


def test_from_env_reads_every_variable() -> None:
    config = UpstreamConfig.from_env(
        {
            "QUOTE_APP_UPSTREAM_URL": "http://user:pw@10.0.0.5:8080/q",
            "QUOTE_APP_UPSTREAM_TIMEOUT": "0.5",
            "QUOTE_APP_UPSTREAM_INTERVAL": "300",
            "QUOTE_APP_UPSTREAM_FILM_FIELD": "movie",
            "QUOTE_APP_UPSTREAM_QUOTE_FIELD": "line",
            "QUOTE_APP_UPSTREAM_POOL_SIZE": "10",
        }
    )

    assert config is not None
    assert (config.timeout, config.interval, config.pool_size) == (0.5, 300.0, 10)
    assert (config.film_field, config.quote_field) == ("movie", "line")
    assert config.origin == "http://10.0.0.5:8080"  # no credentials in logs


@pytest.mark.parametrize(
    ("env", "variable", "message"),
    [
        ({"URL": "ftp://quotes.example/"}, "URL", "http:// or https://"),
        ({"URL": "quotes.example/api"}, "URL", "http:// or https://"),
        ({"URL": "file:///etc/passwd"}, "URL", "http:// or https://"),
        ({"URL": "http://"}, "URL", "no host name"),
        ({"URL": "http://quotes.example:99999/"}, "URL", "invalid port"),
        ({"URL": "http://quotes.example/a b"}, "URL", "spaces"),
        ({"TIMEOUT": "abc"}, "TIMEOUT", "number of seconds"),
        ({"TIMEOUT": "2s"}, "TIMEOUT", "number of seconds"),
        ({"TIMEOUT": "0"}, "TIMEOUT", "> 0"),
        ({"TIMEOUT": "-1"}, "TIMEOUT", "> 0"),
        ({"TIMEOUT": "nan"}, "TIMEOUT", "> 0"),
        ({"TIMEOUT": "inf"}, "TIMEOUT", "> 0"),
        ({"TIMEOUT": "600"}, "TIMEOUT", "<= 60"),
        ({"INTERVAL": "often"}, "INTERVAL", "number of seconds"),
        ({"INTERVAL": "0"}, "INTERVAL", "> 0"),
        ({"POOL_SIZE": "many"}, "POOL_SIZE", "integer"),
        ({"POOL_SIZE": "1.5"}, "POOL_SIZE", "integer"),
        ({"POOL_SIZE": "0"}, "POOL_SIZE", "from 1 to"),
        ({"FILM_FIELD": "x" * 101}, "FILM_FIELD", "longer than"),
        ({"QUOTE_FIELD": "film"}, "QUOTE_FIELD", "must differ"),
    ],
)
def test_bad_env_fails_startup_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    bundled_file: Path,
    env: dict[str, str],
    variable: str,
    message: str,
) -> None:
    monkeypatch.setenv("QUOTE_APP_UPSTREAM_URL", "http://quotes.example/api")
    for name, value in env.items():
        monkeypatch.setenv(f"QUOTE_APP_UPSTREAM_{name}", value)

    with pytest.raises(ValueError, match=message) as excinfo:
        create_app(str(bundled_file))

    assert isinstance(excinfo.value, UpstreamConfigError)
    assert f"QUOTE_APP_UPSTREAM_{variable}" in str(excinfo.value)


def test_env_enables_the_upstream(
    monkeypatch: pytest.MonkeyPatch, bundled_file: Path
) -> None:
    monkeypatch.setenv("QUOTE_APP_UPSTREAM_URL", "http://127.0.0.1:9/quotes")
    monkeypatch.setenv("QUOTE_APP_UPSTREAM_INTERVAL", "120")

    flask_app = create_app(str(bundled_file))
    refresher = flask_app.extensions["quote_refresher"]
    refresher.stop()  # never start a thread in this test

    assert isinstance(refresher, UpstreamRefresher)
    assert refresher.config.interval == 120.0
    assert flask_app.test_client().get("/healthz").get_json()["upstream"] == "stale"
    assert not refresher.running


def test_refreshers_are_registered_for_fork_handling() -> None:
    refresher = UpstreamRefresher(config_for("http://127.0.0.1:9/"))

    assert refresher in upstream_module._REFRESHERS


@pytest.mark.parametrize(
    "url",
    [
        "ftp://deploy:s3cret@quotes.example/",
        "http://deploy:s3cret@quotes.example:99999/",
        "http://deploy:s3cret@quotes.example/a b",
        "http://deploy:s3cret@/path",
    ],
)
def test_url_errors_never_show_the_credentials(url: str) -> None:
    with pytest.raises(UpstreamConfigError) as excinfo:
        UpstreamConfig(url=url)

    assert "s3cret" not in str(excinfo.value) and "deploy" not in str(excinfo.value)
    assert "***@" in str(excinfo.value)
