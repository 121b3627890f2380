"""The bench's load on the controller: wrk's command line and output, and an open-loop generator.

The open-loop generator also runs on its own, e.g. against the sandbox host:
    python bench/loadgen.py --port 8130 --rate 200 --seconds 10 [--host seed.bench]
and prints its measure as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import http.client
import json
import math
import re
import threading
import time

from benchdata import OpenLoop, Wrk


def wrk_command(url: str, seconds: int, connections: int, host: str | None = None) -> list[str]:
    header = ["-H", f"Host: {host}"] if host else []
    return ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *header, url]


def parse_wrk(out: str) -> Wrk:
    """wrk --latency's summary (also the one it prints when stopped with SIGINT)."""
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not total or not rps:
        raise ValueError(f"no wrk summary in:\n{out[-2000:]}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    kinds = ("connect", "read", "write", "timeout")
    by_kind = dict(zip(kinds, map(int, errors.groups()), strict=True)) if errors else {}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Wrk(
        requests=int(total.group(1)),
        rps=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(by_kind.values()),
        socket_errors_by_kind=by_kind,
        p50_ms=wrk_latency(out, "50%"),
        p99_ms=wrk_latency(out, "99%"),
    )


def wrk_latency(out: str, pct: str) -> float:
    found = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if not found:
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def percentile(ordered: list[float], pct: float) -> float:
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def open_loop(port: int, host: str | None, rate: int, seconds: int, connections: int) -> OpenLoop:
    """Send *rate* requests a second to 127.0.0.1:*port* on keep-alive connections, each at its time.

    Latency counts from the time a request was due, not from when a connection was free to
    send it, so a stall shows in the figures instead of silently lowering the rate
    (no coordinated omission).
    """
    total = rate * seconds
    start = time.perf_counter() + 0.5
    lock = threading.Lock()
    next_index = iter(range(total))
    latencies: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        conn: http.client.HTTPConnection | None = None
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                break
            due = start + index / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            try:
                conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request("GET", "/", headers={"Host": host or f"127.0.0.1:{port}"})
                reply = conn.getresponse()
                reply.read()
                failure = None if reply.status == 200 else f"HTTP {reply.status}"
            except (OSError, http.client.HTTPException) as error:
                failure = type(error).__name__
                if conn:
                    conn.close()
                conn = None
            done = time.perf_counter()
            with lock:
                latencies.append((done - due) * 1000)
                if failure:
                    errors.append(failure)
        if conn:
            conn.close()

    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return OpenLoop(
        sent=len(latencies),
        achieved_rps=len(latencies) / elapsed,
        errors=len(errors),
        error_kinds=sorted(set(errors)),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--port", type=int, required=True, help="loopback port of the site")
    parser.add_argument("--host", help="Host header (default 127.0.0.1:PORT)")
    parser.add_argument("--rate", type=int, default=200, help="requests a second")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    measure = open_loop(args.port, args.host, args.rate, args.seconds, args.connections)
    print(json.dumps(dataclasses.asdict(measure), indent=2))


if __name__ == "__main__":
    main()
