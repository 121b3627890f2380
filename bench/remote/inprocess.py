"""B.2: the app called through WSGI in a loop, no HTTP: its req/s on one core.

Run inside the sandbox host by bench/bench.py, in the release's directory and virtualenv, fed
on stdin so that the release's directory is first on sys.path:
    cd /opt/quote-app/current && taskset -c 0 venv/bin/python - SECONDS < inprocess.py
Prints the requests per second.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from typing import Any

from wsgi import app  # the release's wsgi.py, as gunicorn imports it

BASE_ENVIRON: dict[str, Any] = {
    "REQUEST_METHOD": "GET",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "80",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "127.0.0.1",
    "REMOTE_ADDR": "127.0.0.1",
    "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http",
    "wsgi.errors": sys.stderr,
    "wsgi.multithread": False,
    "wsgi.multiprocess": True,
    "wsgi.run_once": False,
}


def start_response(status: str, _headers: list[tuple[str, str]], _exc_info: object = None) -> Callable[[bytes], None]:
    if not status.startswith("200"):
        raise SystemExit(f"GET / answered {status}")
    return lambda _data: None


def once() -> None:
    body = app({**BASE_ENVIRON, "wsgi.input": io.BytesIO()}, start_response)
    try:
        b"".join(body)
    finally:
        getattr(body, "close", lambda: None)()


def main() -> None:
    seconds = float(sys.argv[1])
    for _ in range(200):  # warm up
        once()
    count, start = 0, time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        for _ in range(100):
            once()
        count += 100
    print(count / (time.perf_counter() - start))


if __name__ == "__main__":
    main()
