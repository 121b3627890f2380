"""Optional upstream quotes API, fetched off the request path.

The original tutorial called a quotes API on every page view, without a
timeout; when that API died, so did the page. Here a page view never touches
the network:

* ``UpstreamConfig`` holds the settings, read and validated from the
  ``QUOTE_APP_UPSTREAM_*`` environment variables at startup (a bad value
  raises ``UpstreamConfigError``, a ``ValueError`` naming the variable).
* ``UpstreamRefresher`` runs one daemon thread per process. It fetches the
  API every ``interval`` seconds into a bounded in-memory ``QuotePool``, with
  exponential backoff (capped at ``MAX_BACKOFF_FACTOR`` x interval) and
  jitter on failure. Each fetch has a connect and a read timeout, a total
  deadline and a cap on the body size; anything but HTTP 200 with a JSON
  object (or list of objects) carrying the mapped fields is a failure.
* Requests only read the pool (see ``app.py``), falling back to the bundled
  quotes when the pool is empty or not fresh.

Gunicorn forks its workers from a master process. The thread is therefore
started lazily, by ``ensure_started()`` on a worker's first request, and
``ensure_started()`` compares ``os.getpid()`` so each forked process gets its
own thread (a thread never survives a fork). The thread is a daemon, so it
never keeps a process alive, and ``stop()`` ends it (tests use this).

TLS: requests verifies certificates against certifi's CA bundle, not the
system store. Behind a TLS-intercepting proxy set ``REQUESTS_CA_BUNDLE`` (or
``CURL_CA_BUNDLE``) in the service's environment to a PEM bundle that
includes the proxy's CA; requests honours it, and ``HTTPS_PROXY`` /
``NO_PROXY``, because the session keeps ``trust_env`` on (the default).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from quotes import Quote

log = logging.getLogger("quote_app.upstream")

Clock = Callable[[], float]

URL_ENV = "QUOTE_APP_UPSTREAM_URL"
TIMEOUT_ENV = "QUOTE_APP_UPSTREAM_TIMEOUT"
INTERVAL_ENV = "QUOTE_APP_UPSTREAM_INTERVAL"
FILM_FIELD_ENV = "QUOTE_APP_UPSTREAM_FILM_FIELD"
QUOTE_FIELD_ENV = "QUOTE_APP_UPSTREAM_QUOTE_FIELD"
POOL_SIZE_ENV = "QUOTE_APP_UPSTREAM_POOL_SIZE"

DEFAULT_TIMEOUT = 2.0
DEFAULT_INTERVAL = 60.0
DEFAULT_FILM_FIELD = "film"
DEFAULT_QUOTE_FIELD = "content"
DEFAULT_POOL_SIZE = 50
DEFAULT_MAX_BYTES = 64 * 1024

MAX_TIMEOUT = 60.0
MAX_INTERVAL = 24 * 3600.0
MAX_POOL_SIZE = 1000
MAX_URL_CHARS = 2048
MAX_FIELD_NAME_CHARS = 100

# Backoff after n consecutive failures: interval * 2**n, at most this many
# intervals. Each delay is then shortened by a random 0..JITTER fraction, so
# workers (and hosts) do not retry in lockstep; delays still grow until capped.
MAX_BACKOFF_FACTOR = 10
JITTER = 0.2
# "fresh" = the last successful fetch is at most this many intervals old.
FRESH_FACTOR = 3
# A fetch is abandoned once the body download passes this many timeouts.
DEADLINE_FACTOR = 2

# Sanity limits on what the upstream sends.
MAX_FILM_CHARS = 200
MAX_QUOTE_CHARS = 2000
_CHUNK_BYTES = 8 * 1024


class UpstreamConfigError(ValueError):
    """A QUOTE_APP_UPSTREAM_* setting is invalid; the message names it."""


class UpstreamError(Exception):
    """One fetch failed: network error, timeout, bad status, body or payload."""


def redact_url(url: object) -> str:
    """*url* for messages, with any user name and password replaced by "***"."""
    if not isinstance(url, str):
        return repr(url)
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if sep and "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return repr(f"{scheme}{sep}{authority}{slash}{path}")


def _check_url(url: str) -> None:
    # Messages show the URL without its credentials: they end up in logs and deploy output.
    shown = redact_url(url)
    if not isinstance(url, str) or not url:
        raise UpstreamConfigError(f"{URL_ENV} must be an http(s) URL, got {shown}")
    if len(url) > MAX_URL_CHARS:
        raise UpstreamConfigError(f"{URL_ENV} is longer than {MAX_URL_CHARS} chars")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UpstreamConfigError(
            f"{URL_ENV} must not contain spaces or control characters, got {shown}"
        )
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise UpstreamConfigError(
            f"{URL_ENV} must be an http:// or https:// URL, got {shown}"
        )
    try:
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        raise UpstreamConfigError(f"{URL_ENV} has an invalid port: {shown}") from exc
    if not parts.hostname:
        raise UpstreamConfigError(f"{URL_ENV} has no host name: {shown}")


def _check_seconds(name: str, value: float, maximum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= maximum
    ):
        raise UpstreamConfigError(
            f"{name} must be a number of seconds > 0 and <= {maximum:g}, got {value!r}"
        )


def _check_field_name(name: str, value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise UpstreamConfigError(f"{name} must be a non-empty field name")
    if len(value) > MAX_FIELD_NAME_CHARS:
        raise UpstreamConfigError(
            f"{name} is longer than {MAX_FIELD_NAME_CHARS} characters"
        )


@dataclass(frozen=True)
class UpstreamConfig:
    """Where the upstream API is and how its JSON maps onto a Quote.

    Construct it directly (tests) or with ``from_env()`` (the app). Every
    value is checked here; an error names the environment variable it
    comes from.
    """

    url: str
    timeout: float = DEFAULT_TIMEOUT
    interval: float = DEFAULT_INTERVAL
    film_field: str = DEFAULT_FILM_FIELD
    quote_field: str = DEFAULT_QUOTE_FIELD
    pool_size: int = DEFAULT_POOL_SIZE
    max_bytes: int = DEFAULT_MAX_BYTES

    def __post_init__(self) -> None:
        _check_url(self.url)
        _check_seconds(TIMEOUT_ENV, self.timeout, MAX_TIMEOUT)
        _check_seconds(INTERVAL_ENV, self.interval, MAX_INTERVAL)
        _check_field_name(FILM_FIELD_ENV, self.film_field)
        _check_field_name(QUOTE_FIELD_ENV, self.quote_field)
        if self.film_field == self.quote_field:
            raise UpstreamConfigError(
                f"{FILM_FIELD_ENV} and {QUOTE_FIELD_ENV} must differ, "
                f"both are {self.film_field!r}"
            )
        if (
            isinstance(self.pool_size, bool)
            or not isinstance(self.pool_size, int)
            or not 1 <= self.pool_size <= MAX_POOL_SIZE
        ):
            raise UpstreamConfigError(
                f"{POOL_SIZE_ENV} must be an integer from 1 to {MAX_POOL_SIZE}, "
                f"got {self.pool_size!r}"
            )
        if isinstance(self.max_bytes, bool) or not (
            isinstance(self.max_bytes, int) and self.max_bytes > 0
        ):
            raise UpstreamConfigError(
                f"max_bytes must be a positive integer, got {self.max_bytes!r}"
            )

    @property
    def origin(self) -> str:
        """scheme://host[:port] of the URL: safe to log (no path, no userinfo)."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> UpstreamConfig | None:
        """Read the QUOTE_APP_UPSTREAM_* variables; None when the URL is unset.

        An unset or empty variable takes its default. A bad value raises
        UpstreamConfigError naming the variable.
        """
        env = os.environ if env is None else env

        def get(name: str) -> str:
            return env.get(name, "").strip()

        url = get(URL_ENV)
        if not url:
            return None
        return cls(
            url=url,
            timeout=_parse_seconds(TIMEOUT_ENV, get(TIMEOUT_ENV), DEFAULT_TIMEOUT),
            interval=_parse_seconds(INTERVAL_ENV, get(INTERVAL_ENV), DEFAULT_INTERVAL),
            film_field=get(FILM_FIELD_ENV) or DEFAULT_FILM_FIELD,
            quote_field=get(QUOTE_FIELD_ENV) or DEFAULT_QUOTE_FIELD,
            pool_size=_parse_int(POOL_SIZE_ENV, get(POOL_SIZE_ENV), DEFAULT_POOL_SIZE),
        )


def _parse_seconds(name: str, raw: str, default: float) -> float:
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise UpstreamConfigError(
            f"{name} must be a number of seconds, got {raw!r}"
        ) from None


def _parse_int(name: str, raw: str, default: int) -> int:
    if not raw:
        return default
    try:
        return int(raw, 10)
    except ValueError:
        raise UpstreamConfigError(f"{name} must be an integer, got {raw!r}") from None


# --- the payload ------------------------------------------------------------


def _clean_text(value: Any, max_chars: int) -> str | None:
    """A stripped, non-empty string of sane length without control chars."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > max_chars:
        return None
    if any(ch < " " and ch not in "\t\n" for ch in text) or "\x7f" in text:
        return None
    return text


def parse_payload(data: Any, film_field: str, quote_field: str) -> list[Quote]:
    """Turn decoded JSON into quotes using the field mapping.

    Accepts one object or a list of objects. Entries without usable fields
    are skipped; UpstreamError if nothing usable is left.
    """
    if isinstance(data, dict):
        items: list[Any] = [data]
    elif isinstance(data, list):
        items = data
    else:
        raise UpstreamError(
            f"expected a JSON object or a list of objects, got {type(data).__name__}"
        )
    quotes: list[Quote] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        film = _clean_text(item.get(film_field), MAX_FILM_CHARS)
        quote = _clean_text(item.get(quote_field), MAX_QUOTE_CHARS)
        if film is not None and quote is not None:
            quotes.append(Quote(film=film, quote=quote))
    if not quotes:
        raise UpstreamError(
            f"no usable quote in the response (want non-empty string fields "
            f"{film_field!r} and {quote_field!r})"
        )
    return quotes


def fetch_quotes(session: requests.Session, config: UpstreamConfig) -> list[Quote]:
    """One GET of the upstream URL; the quotes in it, or UpstreamError.

    Limits: connect timeout and per-read timeout of ``config.timeout``; the
    fetch is abandoned once it has run DEADLINE_FACTOR x timeout (checked
    after each read, so it never takes much over 3 x timeout) or the body
    passes ``config.max_bytes`` (read streamed, never buffered whole).
    Redirects are not followed. DNS resolution is not covered by requests'
    timeouts; like the rest of the fetch it runs in the background thread,
    never in a request.
    """
    deadline = time.monotonic() + DEADLINE_FACTOR * config.timeout
    try:
        with session.get(
            config.url,
            timeout=(config.timeout, config.timeout),
            stream=True,
            allow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise UpstreamError(f"HTTP {response.status_code}")
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > config.max_bytes:
                raise UpstreamError(
                    f"body of {declared} bytes is over the {config.max_bytes} limit"
                )
            # raw.read1 returns as soon as some bytes arrive (each socket read
            # waits at most config.timeout), so the deadline also stops a
            # server that trickles a byte at a time; iter_content would wait
            # for a full chunk. Content-Encoding is still decoded, and the
            # limit applies to the decoded size.
            body = bytearray()
            while chunk := response.raw.read1(_CHUNK_BYTES, decode_content=True):
                body += chunk
                if len(body) > config.max_bytes:
                    raise UpstreamError(
                        f"body is over the {config.max_bytes} bytes limit"
                    )
                if time.monotonic() > deadline:
                    raise UpstreamError(
                        f"fetch took over {DEADLINE_FACTOR * config.timeout:g}s"
                    )
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise UpstreamError(f"{type(exc).__name__}: {exc}") from exc
    try:
        data = json.loads(bytes(body))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, bad encoding
        raise UpstreamError(f"body is not valid JSON: {exc}") from exc
    return parse_payload(data, config.film_field, config.quote_field)


# --- the pool and the refresher ---------------------------------------------


class QuotePool:
    """At most ``maxlen`` distinct quotes, newest kept; safe across threads."""

    def __init__(self, maxlen: int, rng: random.Random | None = None) -> None:
        self._quotes: deque[Quote] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self._rng = rng if rng is not None else random.Random()

    def add(self, quotes: Iterable[Quote]) -> int:
        """Add the quotes not already in the pool; return how many were new."""
        added = 0
        with self._lock:
            for quote in quotes:
                if quote not in self._quotes:
                    self._quotes.append(quote)
                    added += 1
        return added

    def random(self) -> Quote | None:
        with self._lock:
            return self._rng.choice(self._quotes) if self._quotes else None

    def __len__(self) -> int:
        return len(self._quotes)

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._rng.seed()


@dataclass(frozen=True)
class RefresherState:
    """A consistent snapshot of a refresher, for tests and debugging."""

    consecutive_failures: int
    failures: int
    successes: int
    next_delay: float | None
    last_error: str | None
    last_success: float | None


# Live refreshers, so a fork can reset their locks (see _after_fork_in_child).
_REFRESHERS: weakref.WeakSet[UpstreamRefresher] = weakref.WeakSet()


class UpstreamRefresher:
    """Keeps a QuotePool filled from the upstream, in one daemon thread per process."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        user_agent: str = "quote-app",
    ) -> None:
        self.config = config
        self.pool = QuotePool(config.pool_size)
        self._clock: Clock = clock if clock is not None else time.monotonic
        self._rng = rng if rng is not None else random.Random()
        self._user_agent = user_agent
        self._stop = threading.Event()
        self._start_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._thread_pid: int | None = None
        self._consecutive_failures = 0
        self._failures = 0
        self._successes = 0
        self._next_delay: float | None = None
        self._last_error: str | None = None
        self._last_success: float | None = None
        _REFRESHERS.add(self)

    # Lifecycle --------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start this process's thread unless it runs already or stop() was called.

        Cheap after the first call: one getpid() and a comparison.
        """
        pid = os.getpid()
        if self._thread_pid == pid or self._stop.is_set():
            return
        with self._start_lock:
            if self._thread_pid == pid or self._stop.is_set():
                return
            thread = threading.Thread(
                target=self._run, name="quote-upstream-refresher", daemon=True
            )
            thread.start()
            self._thread = thread
            self._thread_pid = pid
            log.info(
                "upstream refresher started in pid %d for %s", pid, self.config.origin
            )

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread (for good) and wait up to ``timeout`` for it to end."""
        self._stop.set()
        thread = self._thread
        if (
            thread is not None
            and self._thread_pid == os.getpid()
            and thread is not threading.current_thread()
        ):
            thread.join(timeout)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def _after_fork(self) -> None:
        # Only the forking thread survives a fork: locks may be held by a
        # thread that no longer exists, and the child needs its own thread.
        # Reseed so forked workers do not share one jitter sequence.
        self._start_lock = threading.Lock()
        self._state_lock = threading.Lock()
        stopped = self._stop.is_set()
        self._stop = threading.Event()
        if stopped:
            self._stop.set()
        self._thread = None
        self._thread_pid = None
        self._rng.seed()
        self.pool._after_fork()

    # State ------------------------------------------------------------------

    def is_fresh(self) -> bool:
        """Whether the last successful fetch is recent (FRESH_FACTOR x interval)."""
        last = self._last_success
        return (
            last is not None
            and self._clock() - last <= FRESH_FACTOR * self.config.interval
        )

    def status(self) -> str:
        return "fresh" if self.is_fresh() else "stale"

    def state(self) -> RefresherState:
        with self._state_lock:
            return RefresherState(
                consecutive_failures=self._consecutive_failures,
                failures=self._failures,
                successes=self._successes,
                next_delay=self._next_delay,
                last_error=self._last_error,
                last_success=self._last_success,
            )

    def base_delay(self, consecutive_failures: int) -> float:
        """The wait before the next fetch, before jitter."""
        interval = self.config.interval
        if consecutive_failures <= 0:
            return interval
        factor = min(2 ** min(consecutive_failures, 32), MAX_BACKOFF_FACTOR)
        return interval * factor

    def _jittered(self, delay: float) -> float:
        return delay * (1.0 - JITTER * self._rng.random())

    # Work -------------------------------------------------------------------

    def _new_session(self) -> requests.Session:
        # trust_env stays on: HTTPS_PROXY, NO_PROXY and REQUESTS_CA_BUNDLE work.
        session = requests.Session()
        session.headers.update(
            {"User-Agent": self._user_agent, "Accept": "application/json"}
        )
        return session

    def refresh_once(self, session: requests.Session | None = None) -> bool:
        """Fetch once, update the pool and the backoff; True on success."""
        own_session = session is None
        active = self._new_session() if session is None else session
        try:
            quotes = fetch_quotes(active, self.config)
        except UpstreamError as exc:
            self._record_failure(str(exc))
            return False
        except Exception:  # a bug must not kill the thread: log it, back off
            log.exception("upstream %s: unexpected error", self.config.origin)
            self._record_failure("unexpected error, see the log")
            return False
        finally:
            if own_session:
                active.close()
        added = self.pool.add(quotes)
        with self._state_lock:
            recovered = self._consecutive_failures > 0
            self._consecutive_failures = 0
            self._successes += 1
            self._last_success = self._clock()
            self._last_error = None
            self._next_delay = self._jittered(self.base_delay(0))
        if recovered:
            log.warning("upstream %s is back", self.config.origin)
        log.debug(
            "upstream: %d quote(s), %d new, pool %d", len(quotes), added, len(self.pool)
        )
        return True

    def _record_failure(self, error: str) -> None:
        with self._state_lock:
            self._consecutive_failures += 1
            self._failures += 1
            self._last_error = error
            failures = self._consecutive_failures
            delay = self._jittered(self.base_delay(failures))
            self._next_delay = delay
        log.warning(
            "upstream %s failed (%d in a row), next try in %.1fs: %s",
            self.config.origin,
            failures,
            delay,
            error,
        )

    def _run(self) -> None:
        session = self._new_session()
        try:
            while not self._stop.is_set():
                self.refresh_once(session)
                delay = self._next_delay
                if self._stop.wait(self.config.interval if delay is None else delay):
                    break
        finally:
            session.close()


def _after_fork_in_child() -> None:
    for refresher in list(_REFRESHERS):
        refresher._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
