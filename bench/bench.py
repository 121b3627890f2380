#!/usr/bin/env python3
"""`make bench`: how fast the project converges and serves, in one run, as a table, JSON and charts.

A. Fast to converge (production playbook, the project's ansible.cfg, over SSH):
   1. a fresh converge of a freshly created sandbox host, then a no-change rerun right after
      (target: rerun <= 0.15 x fresh; the rerun's profile_tasks top 10 go into the JSON); the
      same first with Ansible's linear strategy instead of ansible.cfg's mitogen, for comparison;
   2. the seed tutorial's steps as a plain shell script (bench/seed-baseline.sh) on a fresh host
      of the same image (target: our fresh converge <= 1.5 x the script);
   3. four fresh hosts in one run against the one host of A.1 (target: <= 2 x); with the busy cores
      of both runs (from /proc/stat) and the floor they set: N x one host's busy cores / the cores.
B. Fast to serve, on the sandbox host, in alternating rounds (means are reported):
   1. req/s (wrk) of our stack against the seed's configuration running beside it in the same
      host: gunicorn with 3 sync workers on a unix socket (`-m 007`) and the tutorial's nginx
      server block, reached with `Host: seed.bench` (target: ours >= 1.5 x the seed's);
   2. the app's in-process WSGI req/s on one core (no HTTP), and for both configurations the
      ratio stack req/s / (in-process req/s x cores);
   3. p50/p99 latency of both at a fixed rate from an open-loop generator (target: 0 errors).
C. Upstream resilience: req/s with no upstream and with a fake upstream inside the host that
   answers only after 200 ms (target: ratio >= 0.9; the app fetches off the request path).
D. Redeploy under load: wrk loads the site while a new release is deployed (target: 0 failed).

B to D deploy with the rate limit lifted (one client, wrk, sends all the load) and the app's
network opened (for the fake upstream); everything else is the production configuration.
Traffic goes only to 127.0.0.1. The containers this script creates are removed at the end, also
on failure or Ctrl-C; the sandbox host stays, as after `make deploy`.

Environment (for short development runs): BENCH_PARTS (converge,hosts,serve,upstream,redeploy),
BENCH_SECONDS (15, per wrk measure), BENCH_ROUNDS (2), BENCH_CONNECTIONS (16),
BENCH_LATENCY_RATE (200 req/s), BENCH_LATENCY_SECONDS (20), BENCH_HOSTS (4).
"""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".bench"
LOGS = OUT / "logs"
PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
SANDBOX = str(ROOT / "scripts" / "sandbox.sh")
SANDBOX_NAME = "quote-sandbox"
HTTP_PORT = int(os.environ.get("SANDBOX_HTTP_PORT", "8080"))
URL = f"http://127.0.0.1:{HTTP_PORT}"

PARTS = set(os.environ.get("BENCH_PARTS", "converge,hosts,serve,upstream,redeploy").split(","))
DURATION = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
LATENCY_RATE = int(os.environ.get("BENCH_LATENCY_RATE", "200"))
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
LATENCY_CONNECTIONS = 32
INPROCESS_SECONDS = 5
HOST_COUNT = int(os.environ.get("BENCH_HOSTS", "4"))
# The machine's cores, which the controller and every host container share.
CORES = os.cpu_count() or 1
# Loopback ports of the extra hosts: SSH on 2240 + n, HTTP on 8140 + n (n = 0 for the seed's host).
SSH_PORT_BASE, HTTP_PORT_BASE = 2240, 8140
UPSTREAM_PORT = 9100

BENCH_VARS = {
    "nginx_rate_limit": "100000r/s",
    "nginx_rate_limit_burst": 10000,
    "gunicorn_private_network": False,
    "gunicorn_address_families": ["AF_UNIX", "AF_INET", "AF_INET6"],
}

# Our site answers for 127.0.0.1 (wrk's Host header); the seed's server block for this name.
SEED_HOST = "seed.bench"

# B: the seed's configuration beside ours in the sandbox, on the same release and virtualenv:
# the tutorial's gunicorn command line under a plain unit, and its nginx server block.
SEED_SIDE_UP = f"""
set -e
cat >/etc/systemd/system/seed-bench.service <<'EOF'
[Unit]
Description=The seed tutorial's gunicorn command line (make bench)
[Service]
User=quote-app
Group=www-data
WorkingDirectory=/opt/quote-app/current
EnvironmentFile=/etc/quote-app/env
RuntimeDirectory=seed-bench
ExecStart=/opt/quote-app/current/venv/bin/gunicorn --workers 3 --bind unix:/run/seed-bench/app.sock -m 007 wsgi:app
EOF
# The stock nginx.conf logs every request unbuffered and gzips any size: said again here, so
# that tuning our nginx.conf does not tune the seed's server block too.
cat >/etc/nginx/sites-available/seed-bench <<'EOF'
server {{
    listen 80;
    server_name {SEED_HOST};
    access_log /var/log/nginx/access.log;
    gzip on;
    gzip_min_length 20;

    location / {{
        include proxy_params;
        proxy_pass http://unix:/run/seed-bench/app.sock;
    }}
}}
EOF
ln -sf /etc/nginx/sites-available/seed-bench /etc/nginx/sites-enabled/seed-bench
systemctl daemon-reload
systemctl restart seed-bench.service
nginx -t -q
systemctl reload nginx
for i in $(seq 40); do
    curl -sf -o /dev/null -H 'Host: {SEED_HOST}' http://127.0.0.1/ && exit 0
    sleep 0.25
done
echo "the seed configuration does not answer" >&2
exit 1
"""

SEED_SIDE_DOWN = """
systemctl stop seed-bench.service || true
rm -f /etc/systemd/system/seed-bench.service /etc/nginx/sites-enabled/seed-bench /etc/nginx/sites-available/seed-bench
systemctl daemon-reload
nginx -t -q && systemctl reload nginx
"""

# B.2: the app called through WSGI in a loop, no HTTP, in the release's virtualenv.
INPROCESS = """
import io, sys, time
from wsgi import app
base = {
    "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/", "QUERY_STRING": "",
    "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
    "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0),
    "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
    "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
}
def start_response(status, headers, exc_info=None):
    if not status.startswith("200"):
        raise SystemExit(status)
def once():
    body = app(dict(base), start_response)
    b"".join(body)
    getattr(body, "close", lambda: None)()
for _ in range(200):  # warm up
    once()
count, start = 0, time.perf_counter()
end = start + float(sys.argv[1])
while time.perf_counter() < end:
    for _ in range(100):
        once()
    count += 100
print(count / (time.perf_counter() - start))
"""

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


def run(*cmd: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- hosts -------------------------------------------------------------------------------------


@dataclass
class Host:
    name: str
    ssh_port: int
    http_port: int

    def env(self) -> dict[str, str]:
        return {**os.environ, "SANDBOX_NAME": self.name, "SANDBOX_SSH_PORT": str(self.ssh_port),
                "SANDBOX_HTTP_PORT": str(self.http_port)}


# Containers this run created and must remove, whatever happens.
CREATED: list[Host] = []


def start_hosts(hosts: list[Host]) -> None:
    """Start fresh hosts like the sandbox (scripts/sandbox.sh with another name), in parallel."""
    for host in hosts:
        run(SANDBOX, "down", env=host.env())
        CREATED.append(host)
    starts = [subprocess.Popen([SANDBOX, "up"], env=host.env(), text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT) for host in hosts]
    for host, process in zip(hosts, starts):
        output = process.communicate()[0]
        if process.returncode != 0:
            sys.exit(f"cannot start {host.name}:\n{output}")


def remove_created_hosts() -> None:
    while CREATED:
        host = CREATED.pop()
        run(SANDBOX, "down", env=host.env(), check=False)
        (ROOT / ".testbed" / f"{host.name}.ini").unlink(missing_ok=True)


def sandbox_exec(script: str) -> subprocess.CompletedProcess[str]:
    return run("podman", "exec", "-i", SANDBOX_NAME, "bash", "-s", input=script, check=False)


# --- ansible -----------------------------------------------------------------------------------


@dataclass
class Converge:
    seconds: float
    changed: dict[str, int]
    top_tasks: list[dict[str, object]]
    # The machine's CPU time during the run (controller and hosts share it) / its length.
    busy_cores: float


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (idle and iowait count as idle)."""
    fields = [int(f) for f in Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


def playbook(log_name: str, *args: str, strategy: str | None = None, **extra_vars: object) -> Converge:
    """Run playbook.yml with the project's ansible.cfg; the full output goes to .bench/logs/.

    *strategy* replaces ansible.cfg's (mitogen_linear), e.g. "linear" for Ansible's own.
    """
    cmd = [PLAYBOOK, "playbook.yml", *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = {**ANSIBLE_ENV, "ANSIBLE_STRATEGY": strategy} if strategy else ANSIBLE_ENV
    busy_before, total_before = cpu_jiffies()
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, check=False)
    seconds = time.monotonic() - start
    busy_after, total_after = cpu_jiffies()
    busy_cores = CORES * (busy_after - busy_before) / max(total_after - total_before, 1)
    (LOGS / f"{log_name}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        sys.exit(f"{log_name}: ansible-playbook failed (.bench/logs/{log_name}.log):\n{result.stdout[-3000:]}")
    changed = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", result.stdout, re.M)}
    recap = result.stdout.split("TASKS RECAP", 1)[-1]
    top = [{"task": m.group(1).strip(), "seconds": float(m.group(2))}
           for m in re.finditer(r"^(.+?) -{2,} ([\d.]+)s$", recap, re.M)][:10]
    return Converge(seconds, changed, top, busy_cores)


def deploy(version: str, **extra: object) -> float:
    return playbook(f"deploy-{version}", **{**BENCH_VARS, "quote_app_version": version, **extra}).seconds


def write_inventory(hosts: list[Host]) -> Path:
    key = ROOT / ".testbed" / "ssh" / "id_ed25519"
    inventory = {"quote_servers": {
        "hosts": {host.name: {"ansible_port": host.ssh_port} for host in hosts},
        "vars": {
            "ansible_host": "127.0.0.1",
            "ansible_user": "deploy",
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
            "ansible_host_key_checking": False,
        },
    }}
    path = OUT / f"hosts-{len(hosts)}.yml"
    path.write_text(json.dumps(inventory, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
    return path


# --- load --------------------------------------------------------------------------------------


def wrk_output(out: str) -> dict[str, float]:
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "non_2xx": int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "socket_errors_by_kind": dict(zip(("connect", "read", "write", "timeout"), map(int, errors.groups())))
        if errors else {},
        "p50_ms": wrk_latency(out, "50%"),
        "p99_ms": wrk_latency(out, "99%"),
    }


def wrk_latency(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_command(seconds: int, host: str | None) -> list[str]:
    header = ["-H", f"Host: {host}"] if host else []
    return ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency", *header, URL + "/"]


def wrk(seconds: int, host: str | None = None) -> dict[str, float]:
    return wrk_output(run(*wrk_command(seconds, host)).stdout)


def open_loop(host: str | None, rate: int, seconds: int) -> dict[str, float]:
    """Send `rate` requests a second on keep-alive connections, each at its scheduled time.

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
                conn = conn or http.client.HTTPConnection("127.0.0.1", HTTP_PORT, timeout=10)
                conn.request("GET", "/", headers={"Host": host or f"127.0.0.1:{HTTP_PORT}"})
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

    threads = [threading.Thread(target=worker) for _ in range(LATENCY_CONNECTIONS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "sent": len(latencies),
        "achieved_rps": len(latencies) / elapsed,
        "errors": len(errors),
        "error_kinds": sorted(set(errors)),
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1],
    }


def percentile(ordered: list[float], pct: float) -> float:
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def inprocess_rps() -> float:
    """The app's WSGI req/s on one core of the sandbox, in the release's virtualenv."""
    result = run("podman", "exec", "-w", "/opt/quote-app/current", "-e", "PYTHONDONTWRITEBYTECODE=1",
                 SANDBOX_NAME, "taskset", "-c", "0", "/opt/quote-app/current/venv/bin/python", "-c",
                 INPROCESS, str(INPROCESS_SECONDS))
    return float(result.stdout.strip())


def healthz() -> dict[str, Any]:
    with urllib.request.urlopen(URL + "/healthz", timeout=5) as reply:  # noqa: S310 (loopback)
        return json.load(reply)


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# --- the measurements --------------------------------------------------------------------------


def measure_converge(results: dict[str, Any]) -> None:
    """A.1 (with mitogen as ansible.cfg has it, then with Ansible's linear strategy) and A.2."""
    say("A.1: a fresh sandbox host, a fresh converge, a no-change rerun; Ansible's linear strategy first")
    run(SANDBOX, "down")
    run(SANDBOX, "up")
    linear_fresh = playbook("converge-fresh-linear", strategy="linear")
    linear_rerun = playbook("converge-rerun-linear", strategy="linear")
    say(f"    linear: fresh {linear_fresh.seconds:.1f} s, rerun {linear_rerun.seconds:.1f} s")
    say("    and again with mitogen, on a new sandbox host")
    run(SANDBOX, "down")
    run(SANDBOX, "up")
    fresh = playbook("converge-fresh")
    rerun = playbook("converge-rerun")
    results["converge"] = {
        "linear_fresh_s": linear_fresh.seconds,
        "linear_rerun_s": linear_rerun.seconds,
        "linear_rerun_changed": sum(linear_rerun.changed.values()),
        "fresh_s": fresh.seconds,
        "rerun_s": rerun.seconds,
        "rerun_ratio": rerun.seconds / fresh.seconds,
        "rerun_changed": sum(rerun.changed.values()),
        "fresh_top10": fresh.top_tasks,
        "fresh_busy_cores": fresh.busy_cores,
        "rerun_top10": rerun.top_tasks,
    }
    say(f"    fresh {fresh.seconds:.1f} s, rerun {rerun.seconds:.1f} s (changed={sum(rerun.changed.values())})")

    say("A.2: the seed tutorial's steps as a shell script on a fresh host of the same image")
    seed = Host("bench-seed", SSH_PORT_BASE, HTTP_PORT_BASE)
    start_hosts([seed])
    run("podman", "cp", str(ROOT / "bench" / "seed-baseline.sh"), f"{seed.name}:/root/seed-baseline.sh")
    run("podman", "cp", str(ROOT / "files" / "app"), f"{seed.name}:/root/app")
    start = time.monotonic()
    script = run("podman", "exec", seed.name, "bash", "/root/seed-baseline.sh", "/root/app", check=False)
    seconds = time.monotonic() - start
    (LOGS / "seed-baseline.log").write_text(script.stdout + script.stderr, encoding="utf-8")
    remove_created_hosts()
    if script.returncode != 0:
        sys.exit(f"bench/seed-baseline.sh failed (.bench/logs/seed-baseline.log):\n{script.stderr[-2000:]}")
    results["converge"]["seed_script_s"] = seconds
    results["converge"]["fresh_vs_seed"] = fresh.seconds / seconds
    say(f"    seed script {seconds:.1f} s")


def measure_hosts(results: dict[str, Any]) -> None:
    """A.3: HOST_COUNT fresh hosts in one run, against A.1's one fresh host."""
    say(f"A.3: {HOST_COUNT} fresh hosts in one run")
    hosts = [Host(f"bench-host-{n}", SSH_PORT_BASE + n, HTTP_PORT_BASE + n) for n in range(1, HOST_COUNT + 1)]
    start_hosts(hosts)
    inventory = write_inventory(hosts)
    many = playbook(f"converge-{HOST_COUNT}-hosts", "-i", str(inventory))  # ansible.cfg: forks = 10
    remove_created_hosts()
    one = results.get("converge", {}).get("fresh_s")
    one_busy = results.get("converge", {}).get("fresh_busy_cores")
    results["hosts"] = {"count": HOST_COUNT, "seconds": many.seconds, "one_host_s": one,
                        "ratio": many.seconds / one if one else None, "top10": many.top_tasks,
                        "busy_cores": many.busy_cores, "one_host_busy_cores": one_busy,
                        # N hosts need N times one host's CPU time; at best they get every core.
                        "floor": max(1.0, HOST_COUNT * one_busy / CORES) if one_busy else None}
    say(f"    {HOST_COUNT} hosts {many.seconds:.1f} s")


def measure_serving(results: dict[str, Any]) -> None:
    """B.1-B.3: ours and the seed's configuration side by side in the sandbox, alternating."""
    say("B: deploying the sandbox for serving, with the seed's configuration beside it")
    deploy("bench-serve")
    started = sandbox_exec(SEED_SIDE_UP)
    if started.returncode != 0:
        sys.exit(f"cannot start the seed configuration:\n{started.stdout}{started.stderr}")
    cores = int(run("podman", "exec", SANDBOX_NAME, "nproc").stdout)
    configs = {"ours": None, "seed": SEED_HOST}
    rounds: dict[str, list[dict[str, Any]]] = {"ours": [], "seed": []}
    inprocess: list[float] = []
    try:
        for number in range(ROUNDS):
            order = list(configs) if number % 2 == 0 else list(reversed(configs))
            say(f"    round {number + 1}/{ROUNDS}: wrk, in-process, open loop ({' then '.join(order)})")
            throughput = {name: wrk(DURATION, configs[name]) for name in order}
            inprocess.append(inprocess_rps())
            for name in order:
                latency = open_loop(configs[name], LATENCY_RATE, LATENCY_SECONDS)
                rounds[name].append({"wrk": throughput[name], "latency": latency})
    finally:
        sandbox_exec(SEED_SIDE_DOWN)
    serve: dict[str, Any] = {"cores": cores, "inprocess_rps": mean(inprocess), "inprocess_rounds": inprocess}
    for name, measures in rounds.items():
        rps = mean([m["wrk"]["rps"] for m in measures])
        serve[name] = {
            "rps": rps,
            "efficiency": rps / (serve["inprocess_rps"] * cores),
            "wrk_errors": sum(m["wrk"]["non_2xx"] + m["wrk"]["socket_errors"] for m in measures),
            "p50_ms": mean([m["latency"]["p50_ms"] for m in measures]),
            "p99_ms": mean([m["latency"]["p99_ms"] for m in measures]),
            "latency_errors": sum(m["latency"]["errors"] for m in measures),
            "rounds": measures,
        }
    serve["ratio"] = serve["ours"]["rps"] / serve["seed"]["rps"]
    results["serve"] = serve
    say(f"    ours {serve['ours']['rps']:.0f} req/s, seed {serve['seed']['rps']:.0f} req/s")


def measure_upstream(results: dict[str, Any]) -> None:
    """C: no upstream and a slow one in alternating order, so load from elsewhere hits both alike."""
    say("C: page req/s without an upstream and with one answering in 200 ms")
    run("podman", "exec", SANDBOX_NAME, "systemctl", "stop", "bench-upstream", check=False)
    run("podman", "exec", SANDBOX_NAME, "systemd-run", "--unit", "bench-upstream", "--collect",
        "python3", "-c", FAKE_UPSTREAM)
    upstream_env = {
        "QUOTE_APP_UPSTREAM_URL": f"http://127.0.0.1:{UPSTREAM_PORT}/quote",
        "QUOTE_APP_UPSTREAM_INTERVAL": "1",
    }
    rounds: dict[str, list[dict[str, float]]] = {"no_upstream": [], "slow_upstream": []}

    def no_upstream(number: int) -> None:
        deploy(f"bench-none-{number}")
        rounds["no_upstream"].append(wrk(DURATION))

    def slow_upstream(number: int) -> None:
        deploy(f"bench-slow-{number}", quote_app_environment=upstream_env)
        deadline = time.monotonic() + 30
        while healthz().get("upstream") != "fresh":
            if time.monotonic() > deadline:
                sys.exit("the app never reported its upstream as fresh")
            time.sleep(1)
        rounds["slow_upstream"].append(wrk(DURATION))

    try:
        for number in range(ROUNDS):
            # Each round in the other order, as in B, so that a slower second half weighs on both.
            for measure in (no_upstream, slow_upstream)[:: 1 if number % 2 == 0 else -1]:
                measure(number)
    finally:
        run("podman", "exec", SANDBOX_NAME, "systemctl", "stop", "bench-upstream", check=False)
    for name, measures in rounds.items():
        results[name] = {
            "rps": mean([m["rps"] for m in measures]),
            "p99_ms": max(m["p99_ms"] for m in measures),
            "rounds": measures,
        }
    results["upstream_ratio"] = results["slow_upstream"]["rps"] / results["no_upstream"]["rps"]


def measure_redeploy(results: dict[str, Any]) -> None:
    """D: wrk runs from 5 s before the deploy until 5 s after it, whatever the deploy takes."""
    say("D: redeploy of a new release under load")
    if healthz()["version"] == "bench-final":
        deploy("bench-start")  # so that bench-final is a new release again
    loader = subprocess.Popen(wrk_command(3600, None), stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(5)
        results["redeploy_seconds"] = deploy("bench-final")
        served = healthz()["version"]
        time.sleep(5)
    finally:
        loader.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
        output = loader.communicate(timeout=30)[0]
    results["redeploy_under_load"] = {**wrk_output(output), "served_after": served}


# --- report ------------------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""
    met: bool | None = None


def rows_for(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if c := r.get("converge"):
        rows += [
            Row("A.1 fresh converge, sandbox host (s)", f"{c['fresh_s']:.1f}"),
            Row("A.1 no-change rerun (s)", f"{c['rerun_s']:.1f}"),
            Row("A.1 rerun / fresh", f"{c['rerun_ratio']:.2f}", "<= 0.15", c["rerun_ratio"] <= 0.15),
            Row("A.1 rerun changed tasks", str(c["rerun_changed"]), "0", c["rerun_changed"] == 0),
            Row("A.1 without mitogen (linear): fresh / rerun (s)", f"{c['linear_fresh_s']:.1f} / {c['linear_rerun_s']:.1f}"),
            Row("A.1 without mitogen: rerun changed tasks", str(c["linear_rerun_changed"]), "0",
                c["linear_rerun_changed"] == 0),
            Row("A.1 mitogen / linear: fresh, rerun",
                f"{c['fresh_s'] / c['linear_fresh_s']:.2f}, {c['rerun_s'] / c['linear_rerun_s']:.2f}"),
            Row("A.2 seed tutorial as a shell script (s)", f"{c['seed_script_s']:.1f}"),
            Row("A.2 fresh converge / seed script", f"{c['fresh_vs_seed']:.2f}", "<= 1.5", c["fresh_vs_seed"] <= 1.5),
        ]
    if h := r.get("hosts"):
        rows.append(Row(f"A.3 {h['count']} fresh hosts in one run (s)", f"{h['seconds']:.1f}"))
        if h["ratio"] is not None:
            rows.append(Row(f"A.3 {h['count']} hosts / 1 host", f"{h['ratio']:.2f}", "<= 2", h["ratio"] <= 2))
        if h.get("floor") is not None:
            rows.append(Row("A.3 busy cores: 1 host, all hosts", f"{h['one_host_busy_cores']:.2f}, {h['busy_cores']:.2f}"))
            rows.append(Row(f"A.3 floor: {h['count']} x 1 host's busy cores / {CORES} cores", f"{h['floor']:.2f}"))
    if s := r.get("serve"):
        ours, seed = s["ours"], s["seed"]
        rows += [
            Row("B.1 req/s, our stack", f"{ours['rps']:.0f}"),
            Row("B.1 req/s, seed configuration", f"{seed['rps']:.0f}"),
            Row("B.1 ours / seed", f"{s['ratio']:.2f}", ">= 1.5", s["ratio"] >= 1.5),
            Row("B.1 wrk errors (ours / seed)", f"{ours['wrk_errors']} / {seed['wrk_errors']}", "0",
                ours["wrk_errors"] + seed["wrk_errors"] == 0),
            Row("B.2 in-process WSGI req/s, one core", f"{s['inprocess_rps']:.0f}"),
            Row(f"B.2 stack / (in-process x {s['cores']}), ours", f"{ours['efficiency']:.2f}"),
            Row(f"B.2 stack / (in-process x {s['cores']}), seed", f"{seed['efficiency']:.2f}"),
            Row(f"B.3 p50 / p99 ms at {LATENCY_RATE} req/s, ours", f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f}"),
            Row(f"B.3 p50 / p99 ms at {LATENCY_RATE} req/s, seed", f"{seed['p50_ms']:.1f} / {seed['p99_ms']:.1f}"),
            Row("B.3 errors at fixed rate (ours / seed)", f"{ours['latency_errors']} / {seed['latency_errors']}", "0",
                ours["latency_errors"] + seed["latency_errors"] == 0),
        ]
    if "upstream_ratio" in r:
        rows += [
            Row("C page req/s, no upstream", f"{r['no_upstream']['rps']:.0f}"),
            Row("C page req/s, upstream answering in 200 ms", f"{r['slow_upstream']['rps']:.0f}"),
            Row("C ratio slow upstream / none", f"{r['upstream_ratio']:.2f}", ">= 0.9", r["upstream_ratio"] >= 0.9),
            Row("C p99 latency, slow upstream (ms)", f"{r['slow_upstream']['p99_ms']:.1f}"),
        ]
    if d := r.get("redeploy_under_load"):
        failed = d["non_2xx"] + d["socket_errors"]
        rows += [
            Row("D requests during redeploy", str(d["requests"])),
            Row("D non-2xx / socket errors during redeploy", f"{d['non_2xx']} / {d['socket_errors']}", "0", failed == 0),
            Row("D release served after redeploy", d["served_after"], "bench-final", d["served_after"] == "bench-final"),
            Row("D redeploy took (s)", f"{r['redeploy_seconds']:.1f}"),
        ]
    return rows


def print_table(rows: list[Row], r: dict[str, Any]) -> None:
    width = max(len(row.measure) for row in rows)
    print(f"\n{'measure':<{width}}  {'value':>13}  {'target':<11}  met")
    print(f"{'-' * width}  {'-' * 13}  {'-' * 11}  ---")
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "no")
        print(f"{row.measure:<{width}}  {row.value:>13}  {row.target:<11}  {met}")
    print(f"(wrk -t2 -c{CONNECTIONS}, {DURATION} s per measure; open loop {LATENCY_RATE} req/s for "
          f"{LATENCY_SECONDS} s on {LATENCY_CONNECTIONS} connections; {ROUNDS} alternating rounds; "
          f"bench took {r['runtime_s'] / 60:.1f} min; raw figures in .bench/results.json)")
    if c := r.get("converge"):
        print("\nslowest tasks of the no-change rerun (profile_tasks):")
        for task in c["rerun_top10"]:
            print(f"  {task['seconds']:6.2f} s  {task['task']}")


def save_chart(fig, ax, ylabel: str, title: str, name: str) -> str:
    """Label, lay out and write one chart into .bench/; return its path for the summary line."""
    import matplotlib.pyplot as plt

    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT / name, dpi=100)
    plt.close(fig)
    return f".bench/{name}"


def write_charts(r: dict[str, Any]) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install -r bench/requirements.txt): no charts")
        return []
    written = []
    if (c := r.get("converge")) and (h := r.get("hosts")):
        fig, ax = plt.subplots(figsize=(8.5, 4.2))
        labels = ["1 host", f"{h['count']} hosts", "rerun, 1 host", "1 host,\nno mitogen", "rerun,\nno mitogen",
                  "seed script"]
        values = [c["fresh_s"], h["seconds"], c["rerun_s"], c["linear_fresh_s"], c["linear_rerun_s"], c["seed_script_s"]]
        bars = ax.bar(labels, values, color=["#4477aa", "#4477aa", "#66ccee", "#aa3377", "#ee99cc", "#bbbbbb"])
        ax.bar_label(bars, fmt="%.0f s")
        ax.axhline(2 * c["fresh_s"], color="#ee6677", linestyle="--", label=f"target for {h['count']} hosts: 2 x 1 host")
        ax.axhline(1.5 * c["seed_script_s"], color="#228833", linestyle=":", label="target for 1 host: 1.5 x seed script")
        written.append(save_chart(fig, ax, "seconds", "Converge time by host count (fresh hosts, over SSH)",
                                  "converge.png"))
    if s := r.get("serve"):
        fig, ax = plt.subplots(figsize=(7, 4.2))
        labels = ["seed configuration", "our stack"]
        bars = ax.bar(labels, [s["seed"]["rps"], s["ours"]["rps"]], color=["#bbbbbb", "#4477aa"])
        ax.bar_label(bars, fmt="%.0f")
        ax.axhline(1.5 * s["seed"]["rps"], color="#ee6677", linestyle="--", label="target: 1.5 x seed")
        ax.axhline(s["inprocess_rps"] * s["cores"], color="#228833", linestyle=":",
                   label=f"in-process WSGI x {s['cores']} cores (no HTTP)")
        written.append(save_chart(fig, ax, "requests per second (wrk, same host)", "Page req/s by configuration",
                                  "throughput.png"))
    return written


# --- main --------------------------------------------------------------------------------------


def stop_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that clean up


ANSIBLE_ENV: dict[str, str] = {}


def main() -> None:
    if not shutil.which("wrk"):
        run("apt-get", "install", "-y", "-q", "wrk")
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    # The project's ansible.cfg, with SSH control sockets of this run only: a control master left
    # from an earlier run could point at a container that no longer exists.
    control_dir = tempfile.mkdtemp(prefix="bench-cp-")
    ANSIBLE_ENV.update(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    started = time.monotonic()
    results: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M"), "parts": sorted(PARTS),
                               "connections": CONNECTIONS, "seconds": DURATION, "rounds": ROUNDS,
                               "latency_rate": LATENCY_RATE, "latency_seconds": LATENCY_SECONDS}
    try:
        if "converge" in PARTS:
            measure_converge(results)
        if "hosts" in PARTS:
            measure_hosts(results)
        run(SANDBOX, "up")
        if "serve" in PARTS:
            measure_serving(results)
        if "upstream" in PARTS:
            measure_upstream(results)
        if "redeploy" in PARTS:
            measure_redeploy(results)
    finally:
        remove_created_hosts()
        shutil.rmtree(control_dir, ignore_errors=True)
    results["runtime_s"] = time.monotonic() - started

    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    rows = rows_for(results)
    print_table(rows, results)
    charts = write_charts(results)
    if charts:
        print("charts: " + ", ".join(charts))
    missed = [row.measure for row in rows if row.met is False]
    if missed:
        print("targets missed: " + "; ".join(missed))
    # The table is the result; BENCH_STRICT=1 turns a missed target into a failing exit status.
    sys.exit(1 if missed and os.environ.get("BENCH_STRICT") == "1" else 0)


if __name__ == "__main__":
    main()
