#!/usr/bin/env python3
"""`make bench`: measured on the sandbox host, in one run, printed as a table and saved as JSON.

1. Upstream resilience: req/s of the page with no upstream and with a fake upstream inside the
   host that answers only after 200 ms, in alternating rounds. The app fetches off the request path, so the ratio
   should stay near 1 (target >= 0.9).
2. Redeploy under load: wrk keeps loading the site while a new release is deployed; every
   request must succeed (target 0 failed).

The bench deploys with the rate limit lifted (one client, wrk, sends all the load) and with the
network opened for the app (the fake upstream); everything else is the production playbook.
Traffic goes only to 127.0.0.1, where the sandbox publishes its port 80.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".bench"
URL = f"http://127.0.0.1:{os.environ.get('SANDBOX_HTTP_PORT', '8080')}"
DURATION = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
UPSTREAM_PORT = 9100

BENCH_VARS = {
    "nginx_rate_limit": "100000r/s",
    "nginx_rate_limit_burst": 10000,
    "gunicorn_private_network": False,
    "gunicorn_address_families": ["AF_UNIX", "AF_INET", "AF_INET6"],
}

FAKE_UPSTREAM = f"""
import http.server, json, time
class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.2)
        body = json.dumps({{"film": "Benchmark", "content": "Slow but steady."}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", {UPSTREAM_PORT}), Slow).serve_forever()
"""


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def deploy(version: str, **extra: object) -> float:
    variables = {**BENCH_VARS, "quote_app_version": version, **extra}
    start = time.monotonic()
    result = run(str(ROOT / ".venv" / "bin" / "ansible-playbook"), "playbook.yml", "-e", json.dumps(variables),
                 check=False, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"deploy of {version} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return time.monotonic() - start


def healthz() -> dict:
    with urllib.request.urlopen(URL + "/healthz", timeout=5) as reply:  # noqa: S310 (loopback)
        return json.load(reply)


def wrk(path: str, seconds: int) -> dict[str, float]:
    out = run("wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", URL + path).stdout
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "p50_ms": latency(out, "50%"),
        "p99_ms": latency(out, "99%"),
    }


def latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    if not shutil.which("wrk"):
        run("apt-get", "install", "-y", "-q", "wrk")
    OUT.mkdir(exist_ok=True)
    run(str(ROOT / "scripts" / "sandbox.sh"), "up")
    results: dict[str, object] = {"connections": CONNECTIONS, "seconds": DURATION, "rounds": ROUNDS}

    # Alternate the two configurations, so that load from elsewhere on the machine hits both alike.
    run("podman", "exec", "quote-sandbox", "systemd-run", "--unit", "bench-upstream", "--collect",
        "python3", "-c", FAKE_UPSTREAM)
    upstream_env = {
        "QUOTE_APP_UPSTREAM_URL": f"http://127.0.0.1:{UPSTREAM_PORT}/quote",
        "QUOTE_APP_UPSTREAM_INTERVAL": "1",
    }
    rounds: dict[str, list[dict[str, float]]] = {"no_upstream": [], "slow_upstream": []}
    for number in range(ROUNDS):
        deploy(f"bench-none-{number}")
        rounds["no_upstream"].append(wrk("/", DURATION))
        deploy(f"bench-slow-{number}", quote_app_environment=upstream_env)
        deadline = time.monotonic() + 30
        while healthz().get("upstream") != "fresh":
            if time.monotonic() > deadline:
                sys.exit("the app never reported its upstream as fresh")
            time.sleep(1)
        rounds["slow_upstream"].append(wrk("/", DURATION))
    for name, measures in rounds.items():
        results[name] = {
            "rps": sum(m["rps"] for m in measures) / len(measures),
            "p99_ms": max(m["p99_ms"] for m in measures),
            "rounds": measures,
        }
    results["upstream_ratio"] = results["slow_upstream"]["rps"] / results["no_upstream"]["rps"]

    load: dict[str, dict[str, float]] = {}
    loader = threading.Thread(target=lambda: load.setdefault("stats", wrk("/", 90)))
    loader.start()
    time.sleep(5)
    results["redeploy_seconds"] = deploy("bench-final")
    served = healthz()["version"]
    loader.join()
    results["redeploy_under_load"] = {**load["stats"], "served_after": served}

    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print_table(results)
    failed = load["stats"]["non_2xx"] + load["stats"]["socket_errors"]
    ok = failed == 0 and results["upstream_ratio"] >= 0.9 and served == "bench-final"
    sys.exit(0 if ok else 1)


def print_table(r: dict) -> None:
    rows = [
        ("page req/s, no upstream (mean of rounds)", f"{r['no_upstream']['rps']:.0f}", ""),
        ("page req/s, upstream answering in 200 ms", f"{r['slow_upstream']['rps']:.0f}", ""),
        ("ratio slow upstream / none", f"{r['upstream_ratio']:.2f}", ">= 0.9"),
        ("p99 latency, slow upstream (ms)", f"{r['slow_upstream']['p99_ms']:.1f}", ""),
        ("requests during redeploy", f"{r['redeploy_under_load']['requests']}", ""),
        ("non-2xx during redeploy", f"{r['redeploy_under_load']['non_2xx']}", "0"),
        ("socket errors during redeploy", f"{r['redeploy_under_load']['socket_errors']}", "0"),
        ("release served after redeploy", r["redeploy_under_load"]["served_after"], "bench-final"),
        ("redeploy took (s)", f"{r['redeploy_seconds']:.1f}", ""),
    ]
    width = max(len(row[0]) for row in rows)
    print(f"{'measure':<{width}}  {'value':>10}  target")
    print(f"{'-' * width}  {'-' * 10}  ------")
    for name, value, target in rows:
        print(f"{name:<{width}}  {value:>10}  {target}")
    print(f"(wrk -t2 -c{r['connections']}, {r['seconds']} s per measure, {ROUNDS} alternating rounds; "
          "raw figures in .bench/results.json)")


if __name__ == "__main__":
    main()
