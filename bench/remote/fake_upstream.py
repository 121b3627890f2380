"""C: a fake upstream for the app that answers every request only after 200 ms.

Copied into the sandbox host by bench/bench.py and run there under a transient systemd unit:
    python3 fake_upstream.py PORT
It listens on 127.0.0.1 only; the app fetches from it off the request path.
"""

from __future__ import annotations

import http.server
import json
import sys
import time

DELAY_S = 0.2
BODY = json.dumps({"film": "Benchmark", "content": "Slow but steady."}).encode()


class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        time.sleep(DELAY_S)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


def main() -> None:
    port = int(sys.argv[1])
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Slow).serve_forever()


if __name__ == "__main__":
    main()
