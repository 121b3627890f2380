#!/usr/bin/env python3
"""`make bench`, the measuring half: runs the parts below and writes .bench/results.json.

bench/report.py, the other half, reads that file and prints the table, draws the charts and
writes docs/benchmark.md (`make bench` runs both; `make bench-report` the report alone).

A. Fast to converge (production playbook, the project's ansible.cfg, over SSH):
   1. a fresh converge of a freshly created bench sandbox host, then a no-change rerun right
      after; the same first with Ansible's linear strategy instead of ansible.cfg's mitogen;
   2. time to serve: on that converged host, a run that deploys a one-line code change under
      the same label, with /healthz polled every 0.1 s from the start of ansible-playbook until
      it reports the new release;
   3. the seed tutorial's steps as a plain shell script (bench/seed-baseline.sh) on a fresh host
      of the same image;
   4. several fresh hosts in one run (BENCH_HOSTS, 4), with the machine's busy cores (/proc/stat).
B. Fast to serve, on the bench sandbox host, in alternating rounds: req/s (wrk) of our stack and
   of the seed's configuration beside it in the same host (bench/remote/seed_side.sh), the app's
   in-process WSGI req/s on one core (bench/remote/inprocess.py), p50/p99 latency at a fixed rate
   from an open-loop generator (bench/loadgen.py).
C. Upstream resilience: req/s with no upstream and with a fake upstream inside the host that
   answers after 200 ms (bench/remote/fake_upstream.py).
D. Redeploy under load: wrk loads the site while a new release is deployed.

A runs the production configuration. B to D deploy with the rate limit lifted (one client, wrk,
sends all the load) and the app's network opened (for the fake upstream).

Every container is the bench's own (bench-sandbox, bench-seed, bench-host-N, on loopback ports of
their own), never the `make deploy` sandbox; all are removed at the end, also on failure or
Ctrl-C (BENCH_KEEP_SANDBOX=1 keeps bench-sandbox for the next short run). Traffic goes only to
127.0.0.1.

Environment (for short development runs): BENCH_PARTS (converge,change,hosts,serve,upstream,
redeploy), BENCH_SECONDS (15, per wrk measure), BENCH_ROUNDS (2), BENCH_CONNECTIONS (16),
BENCH_LATENCY_RATE (200 req/s), BENCH_LATENCY_SECONDS (20), BENCH_HOSTS (4),
BENCH_KEEP_SANDBOX (0).
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchdata import (
    PARTS,
    CodeChange,
    Converge,
    Hosts,
    Machine,
    OpenLoop,
    Redeploy,
    Results,
    SeedScript,
    Serve,
    ServeRound,
    Settings,
    Stack,
    TaskTime,
    Upstream,
    Wrk,
    save,
)
from loadgen import open_loop, parse_wrk, wrk_command

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
REMOTE = BENCH / "remote"
OUT = ROOT / ".bench"
LOGS = OUT / "logs"
RESULTS = OUT / "results.json"
PLAYBOOK = str(ROOT / ".venv" / "bin" / "ansible-playbook")
SANDBOX = str(ROOT / "scripts" / "sandbox.sh")
APP_SOURCE = ROOT / "files" / "app"

SELECTED = os.environ.get("BENCH_PARTS", ",".join(PARTS)).split(",")
DURATION = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
LATENCY_RATE = int(os.environ.get("BENCH_LATENCY_RATE", "200"))
LATENCY_SECONDS = int(os.environ.get("BENCH_LATENCY_SECONDS", "20"))
LATENCY_CONNECTIONS = 32
INPROCESS_SECONDS = 5
HOST_COUNT = int(os.environ.get("BENCH_HOSTS", "4"))
KEEP_SANDBOX = os.environ.get("BENCH_KEEP_SANDBOX") == "1"
PLATFORM = os.environ.get("SANDBOX_PLATFORM", "ubuntu2604")
# The machine's cores, which the controller and every host container share.
CORES = os.cpu_count() or 1
UPSTREAM_PORT = 9100
# A.2: /healthz is polled this often, each poll waiting at most POLL_TIMEOUT for its answer.
POLL_INTERVAL = 0.1
POLL_TIMEOUT = 1.0  # report.py's POLL_TIMEOUT_S says it

BENCH_VARS = {
    "nginx_rate_limit": "100000r/s",
    "nginx_rate_limit_burst": 10000,
    "gunicorn_private_network": False,
    "gunicorn_address_families": ["AF_UNIX", "AF_INET", "AF_INET6"],
}

# Our site answers for 127.0.0.1 (wrk's Host header); the seed's server block for this name.
SEED_HOST = "seed.bench"


def run(*cmd: str, check: bool = True, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, text=True, capture_output=True, **kw)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- hosts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Host:
    """A container made by scripts/sandbox.sh under the bench's own name and loopback ports."""

    name: str
    ssh_port: int
    http_port: int

    def env(self) -> dict[str, str]:
        return {**os.environ, "SANDBOX_NAME": self.name, "SANDBOX_SSH_PORT": str(self.ssh_port),
                "SANDBOX_HTTP_PORT": str(self.http_port), "SANDBOX_PLATFORM": PLATFORM}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


# The bench's sandbox host (B to D run on it, A.1 and A.2 too) and the other fresh hosts: SSH on
# 2240 + n, HTTP on 8140 + n (n = 0 for the seed's script, 1.. for A.4). None of them is the
# `make deploy` sandbox (quote-sandbox, 2222, 8080) or a CI container (quote-*).
SANDBOX_HOST = Host("bench-sandbox", 2230, 8130)
SEED_SCRIPT_HOST = Host("bench-seed", 2240, 8140)
SSH_PORT_BASE, HTTP_PORT_BASE = 2240, 8140
URL = SANDBOX_HOST.url

# Containers this run created or reused and must remove, whatever happens.
CREATED: dict[str, Host] = {}


def start_hosts(hosts: list[Host], *, fresh: bool = True) -> None:
    """Start hosts like the sandbox (scripts/sandbox.sh with another name), in parallel.

    fresh=False reuses a host of that name that runs already (the sandbox of an earlier short run).
    """
    for host in hosts:
        if fresh:
            run(SANDBOX, "down", env=host.env())
        CREATED[host.name] = host
    starts = [subprocess.Popen([SANDBOX, "up"], env=host.env(), text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT) for host in hosts]
    for host, process in zip(hosts, starts, strict=True):
        output = process.communicate()[0]
        if process.returncode != 0:
            sys.exit(f"cannot start {host.name}:\n{output}")


def remove_host(host: Host) -> None:
    run(SANDBOX, "down", env=host.env(), check=False)
    (ROOT / ".testbed" / f"{host.name}.ini").unlink(missing_ok=True)
    CREATED.pop(host.name, None)


def remove_created_hosts() -> None:
    for host in list(CREATED.values()):
        if host == SANDBOX_HOST and KEEP_SANDBOX:
            say(f"kept {host.name} (BENCH_KEEP_SANDBOX=1); remove it with: SANDBOX_NAME={host.name} "
                f"SANDBOX_SSH_PORT={host.ssh_port} SANDBOX_HTTP_PORT={host.http_port} scripts/sandbox.sh down")
            continue
        remove_host(host)


def in_sandbox(*cmd: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command as root in the bench sandbox host (its input from *stdin*)."""
    prefix = ["podman", "exec", "-i"] if stdin is not None else ["podman", "exec"]
    return run(*prefix, SANDBOX_HOST.name, *cmd, input=stdin, check=check)


def remote_program(name: str) -> str:
    return (REMOTE / name).read_text(encoding="utf-8")


# --- ansible -----------------------------------------------------------------------------------


@dataclass
class PlaybookRun:
    seconds: float
    changed: dict[str, int]
    # Per host, from the play recap: tasks that ran (ok, which counts the changed ones) and skipped.
    ran: dict[str, int]
    skipped: dict[str, int]
    top_tasks: list[TaskTime]
    # The machine's CPU time during the run (controller and hosts share it) / its length.
    busy_cores: float

    @property
    def changed_total(self) -> int:
        return sum(self.changed.values())


def cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat (idle and iowait count as idle)."""
    fields = [int(f) for f in Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:]]
    return sum(fields) - fields[3] - fields[4], sum(fields)


ANSIBLE_ENV: dict[str, str] = {}

# Called with the running ansible-playbook and its start (time.monotonic()) while it runs.
Watch = Callable[[subprocess.Popen[str], float], None]


def playbook(log_name: str, inventory: Path, *, strategy: str | None = None, watch: Watch | None = None,
             **extra_vars: object) -> PlaybookRun:
    """Run playbook.yml with the project's ansible.cfg; the full output goes to .bench/logs/.

    *strategy* replaces ansible.cfg's (mitogen_linear), e.g. "linear" for Ansible's own.
    """
    cmd = [PLAYBOOK, "-i", str(inventory), "playbook.yml"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = {**ANSIBLE_ENV, "ANSIBLE_STRATEGY": strategy} if strategy else ANSIBLE_ENV
    log_path = LOGS / f"{log_name}.log"
    ended: list[float] = []
    with log_path.open("w", encoding="utf-8") as log:
        busy_before, total_before = cpu_jiffies()
        start = time.monotonic()
        process = subprocess.Popen(cmd, cwd=ROOT, env=env, text=True, stdout=log, stderr=subprocess.STDOUT)

        def wait() -> None:  # the end is taken when the process exits, whatever the watch does meanwhile
            process.wait()
            ended.append(time.monotonic())

        waiter = threading.Thread(target=wait)
        waiter.start()
        try:
            if watch:
                watch(process, start)
        finally:
            waiter.join()
    seconds = ended[0] - start
    busy_after, total_after = cpu_jiffies()
    busy_cores = CORES * (busy_after - busy_before) / max(total_after - total_before, 1)
    output = log_path.read_text(encoding="utf-8")
    if process.returncode != 0:
        sys.exit(f"{log_name}: ansible-playbook failed (.bench/logs/{log_name}.log):\n{output[-3000:]}")
    changed, ran, skipped = play_recap(output)
    recap = output.split("TASKS RECAP", 1)[-1]
    top = [TaskTime(m.group(1).strip(), float(m.group(2)))
           for m in re.finditer(r"^(.+?) -{2,} ([\d.]+)s$", recap, re.M)][:10]
    return PlaybookRun(seconds, changed, ran, skipped, top, busy_cores)


def play_recap(output: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Per host, from the PLAY RECAP of ansible-playbook's *output*: changed, ran (ok) and skipped tasks."""
    recaps = list(re.finditer(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+).*?skipped=(\d+)", output, re.M))
    return ({m.group(1): int(m.group(3)) for m in recaps}, {m.group(1): int(m.group(2)) for m in recaps},
            {m.group(1): int(m.group(4)) for m in recaps})


def write_inventory(hosts: list[Host], name: str) -> Path:
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
    path = OUT / f"hosts-{name}.yml"
    path.write_text(json.dumps(inventory, indent=2) + "\n", encoding="utf-8")  # JSON is YAML
    return path


# Whether the sandbox runs the bench's serving configuration (BENCH_VARS), deployed by this run.
SERVING_CONFIG = {"deployed": False}


def sandbox_playbook(log_name: str, *, serving_config: bool = False, **kw: Any) -> PlaybookRun:
    SERVING_CONFIG["deployed"] = False  # whatever it was, until this run has succeeded
    result = playbook(log_name, write_inventory([SANDBOX_HOST], "sandbox"), **kw)
    SERVING_CONFIG["deployed"] = serving_config
    return result


def deploy(version: str, **extra: object) -> float:
    """Deploy the bench's serving configuration (BENCH_VARS) to the sandbox under label *version*."""
    return sandbox_playbook(f"deploy-{version}", serving_config=True,
                            **{**BENCH_VARS, "quote_app_version": version, **extra}).seconds


# --- probes ------------------------------------------------------------------------------------


def healthz(timeout: float = 5) -> dict[str, Any]:
    """The sandbox's /healthz through nginx (loopback)."""
    conn = http.client.HTTPConnection("127.0.0.1", SANDBOX_HOST.http_port, timeout=timeout)
    try:
        conn.request("GET", "/healthz", headers={"Host": "127.0.0.1"})
        reply = conn.getresponse()
        body = reply.read()
        if reply.status != 200:
            raise OSError(f"/healthz answered {reply.status}")
        return json.loads(body)
    finally:
        conn.close()


def serving() -> dict[str, Any] | None:
    try:
        return healthz()
    except (OSError, http.client.HTTPException, ValueError):
        return None


def wrk(seconds: int, host: str | None = None) -> Wrk:
    return parse_wrk(run(*wrk_command(URL + "/", seconds, CONNECTIONS, host)).stdout)


def inprocess_rps() -> float:
    """The app's WSGI req/s on one core of the sandbox, in the release's virtualenv."""
    # Fed on stdin, so that the release's directory (the working directory) is first on sys.path.
    result = run("podman", "exec", "-i", "-w", "/opt/quote-app/current", "-e", "PYTHONDONTWRITEBYTECODE=1",
                 SANDBOX_HOST.name, "taskset", "-c", "0", "/opt/quote-app/current/venv/bin/python", "-",
                 str(INPROCESS_SECONDS), input=remote_program("inprocess.py"))
    return float(result.stdout.strip())


# --- the measurements --------------------------------------------------------------------------


def measure_converge() -> Converge:
    """A.1, with Ansible's linear strategy first, then with mitogen as ansible.cfg has it."""
    say("A.1: a fresh sandbox host, a fresh converge, a no-change rerun; Ansible's linear strategy first")
    start_hosts([SANDBOX_HOST])
    linear_fresh = sandbox_playbook("converge-fresh-linear", strategy="linear")
    linear_rerun = sandbox_playbook("converge-rerun-linear", strategy="linear")
    say(f"    linear: fresh {linear_fresh.seconds:.1f} s, rerun {linear_rerun.seconds:.1f} s")
    say("    and again with mitogen, on a new sandbox host")
    start_hosts([SANDBOX_HOST])
    fresh = sandbox_playbook("converge-fresh")
    rerun = sandbox_playbook("converge-rerun")
    say(f"    fresh {fresh.seconds:.1f} s, rerun {rerun.seconds:.1f} s (changed={rerun.changed_total})")
    return Converge(
        fresh_s=fresh.seconds,
        rerun_s=rerun.seconds,
        rerun_changed=rerun.changed_total,
        rerun_ran=sum(rerun.ran.values()),
        rerun_skipped=sum(rerun.skipped.values()),
        fresh_busy_cores=fresh.busy_cores,
        fresh_top10=fresh.top_tasks,
        rerun_top10=rerun.top_tasks,
        linear_fresh_s=linear_fresh.seconds,
        linear_rerun_s=linear_rerun.seconds,
        linear_rerun_changed=linear_rerun.changed_total,
    )


@dataclass
class ReleaseWatch:
    """Polls /healthz while a deploy runs, until it reports a release other than *before*."""

    before: str
    seen_after_s: float | None = None
    release: str = ""
    polls: int = 0
    failures: int = 0
    failure_kinds: set[str] = field(default_factory=set)

    def poll(self) -> str | None:
        self.polls += 1
        try:
            return str(healthz(timeout=POLL_TIMEOUT)["release"])
        except (OSError, http.client.HTTPException, ValueError, KeyError) as error:
            self.failures += 1
            self.failure_kinds.add(str(error) if str(error).startswith("/healthz answered") else type(error).__name__)
            return None

    def __call__(self, process: subprocess.Popen[str], start: float) -> None:
        due = start
        grace_until: float | None = None
        while True:
            release = self.poll()
            if release is not None and release != self.before:
                self.seen_after_s = time.monotonic() - start
                self.release = release
                return
            if process.poll() is not None:
                # The run is over and the new release was not seen yet: a last look, for 2 s.
                grace_until = grace_until or time.monotonic() + 2
                if time.monotonic() > grace_until:
                    return
            due += POLL_INTERVAL
            time.sleep(max(0.0, due - time.monotonic()))


def measure_change(converged: bool) -> CodeChange:
    """A.2: time to serve a one-line code change (same label) on a converged host."""
    say("A.2: time to serve a code-only change on the converged sandbox host")
    if not converged:
        start_hosts([SANDBOX_HOST], fresh=False)
        say("    converging the sandbox host first (production configuration, not timed)")
        sandbox_playbook("change-prepare")
    before = serving()
    if before is None:
        sys.exit("A.2: the sandbox host does not serve /healthz before the change")
    with tempfile.TemporaryDirectory(prefix="bench-change-") as tmp:
        source = Path(tmp) / "app"
        shutil.copytree(APP_SOURCE, source, symlinks=True)
        token = uuid.uuid4().hex[:12]
        with (source / "app.py").open("a", encoding="utf-8") as app_py:
            app_py.write(f"# make bench, a code-only change: {token}\n")
        watch = ReleaseWatch(before=str(before["release"]))
        # The label stays (quote_app_version as in A.1): only the code's digest changes.
        result = sandbox_playbook("change-code", watch=watch, quote_app_source_dir=str(source))
    after = serving() or {}
    change = CodeChange(
        time_to_serve_s=watch.seen_after_s,
        run_s=result.seconds,
        changed=result.changed_total,
        release_before=watch.before,
        release_after=str(after.get("release", watch.release)),
        polls=watch.polls,
        poll_failures=watch.failures,
        poll_failure_kinds=sorted(watch.failure_kinds),
    )
    if change.time_to_serve_s is None:
        say(f"    the new release never answered (still {change.release_after}); run {change.run_s:.1f} s")
    else:
        say(f"    {change.release_before} -> {change.release_after}: served after {change.time_to_serve_s:.1f} s, "
            f"run {change.run_s:.1f} s")
    return change


def measure_seed_script() -> SeedScript:
    """A.3: the seed tutorial's steps as a shell script on a fresh host of the same image."""
    say("A.3: the seed tutorial's steps as a shell script on a fresh host of the same image")
    host = SEED_SCRIPT_HOST
    start_hosts([host])
    try:
        run("podman", "cp", str(BENCH / "seed-baseline.sh"), f"{host.name}:/root/seed-baseline.sh")
        run("podman", "cp", str(APP_SOURCE), f"{host.name}:/root/app")
        start = time.monotonic()
        script = run("podman", "exec", host.name, "bash", "/root/seed-baseline.sh", "/root/app", check=False)
        seconds = time.monotonic() - start
    finally:
        remove_host(host)
    (LOGS / "seed-baseline.log").write_text(script.stdout + script.stderr, encoding="utf-8")
    if script.returncode != 0:
        sys.exit(f"bench/seed-baseline.sh failed (.bench/logs/seed-baseline.log):\n{script.stderr[-2000:]}")
    say(f"    seed script {seconds:.1f} s")
    return SeedScript(seconds)


def measure_hosts() -> Hosts:
    """A.4: HOST_COUNT fresh hosts in one run, against A.1's one fresh host."""
    say(f"A.4: {HOST_COUNT} fresh hosts in one run")
    hosts = [Host(f"bench-host-{n}", SSH_PORT_BASE + n, HTTP_PORT_BASE + n) for n in range(1, HOST_COUNT + 1)]
    start_hosts(hosts)
    try:
        many = playbook(f"converge-{HOST_COUNT}-hosts", write_inventory(hosts, str(HOST_COUNT)))  # forks = 10
    finally:
        for host in hosts:
            remove_host(host)
    say(f"    {HOST_COUNT} hosts {many.seconds:.1f} s")
    return Hosts(count=HOST_COUNT, seconds=many.seconds, busy_cores=many.busy_cores, top10=many.top_tasks)


def measure_serving() -> Serve:
    """B.1-B.3: ours and the seed's configuration side by side in the sandbox, alternating."""
    say("B: deploying the sandbox for serving, with the seed's configuration beside it")
    deploy("bench-serve")
    started = in_sandbox("bash", "-s", "up", SEED_HOST, stdin=remote_program("seed_side.sh"), check=False)
    if started.returncode != 0:
        sys.exit(f"cannot start the seed configuration:\n{started.stdout}{started.stderr}")
    cores = int(in_sandbox("nproc").stdout)
    configs = {"ours": None, "seed": SEED_HOST}
    rounds: dict[str, list[ServeRound]] = {"ours": [], "seed": []}
    inprocess: list[float] = []
    try:
        for number in range(ROUNDS):
            order = list(configs) if number % 2 == 0 else list(reversed(configs))
            say(f"    round {number + 1}/{ROUNDS}: wrk, in-process, open loop ({' then '.join(order)})")
            throughput = {name: wrk(DURATION, configs[name]) for name in order}
            inprocess.append(inprocess_rps())
            for name in order:
                latency: OpenLoop = open_loop(SANDBOX_HOST.http_port, configs[name], LATENCY_RATE, LATENCY_SECONDS,
                                              LATENCY_CONNECTIONS)
                rounds[name].append(ServeRound(wrk=throughput[name], latency=latency))
    finally:
        in_sandbox("bash", "-s", "down", SEED_HOST, stdin=remote_program("seed_side.sh"), check=False)
    serve = Serve(cores=cores, inprocess_rounds=inprocess, ours=Stack(rounds["ours"]), seed=Stack(rounds["seed"]))
    say(f"    ours {serve.ours.rps:.0f} req/s, seed {serve.seed.rps:.0f} req/s")
    return serve


def measure_upstream() -> Upstream:
    """C: no upstream and a slow one in alternating order, so load from elsewhere hits both alike."""
    say("C: page req/s without an upstream and with one answering in 200 ms")
    program = "/root/bench-fake-upstream.py"
    in_sandbox("systemctl", "stop", "bench-upstream", check=False)
    run("podman", "cp", str(REMOTE / "fake_upstream.py"), f"{SANDBOX_HOST.name}:{program}")
    in_sandbox("systemd-run", "--unit", "bench-upstream", "--collect", "python3", program, str(UPSTREAM_PORT))
    upstream_env = {
        "QUOTE_APP_UPSTREAM_URL": f"http://127.0.0.1:{UPSTREAM_PORT}/quote",
        "QUOTE_APP_UPSTREAM_INTERVAL": "1",
    }
    result = Upstream(no_upstream=[], slow_upstream=[])

    def no_upstream(number: int) -> None:
        deploy(f"bench-none-{number}")
        result.no_upstream.append(wrk(DURATION))

    def slow_upstream(number: int) -> None:
        deploy(f"bench-slow-{number}", quote_app_environment=upstream_env)
        deadline = time.monotonic() + 30
        while (serving() or {}).get("upstream") != "fresh":
            if time.monotonic() > deadline:
                sys.exit("the app never reported its upstream as fresh")
            time.sleep(1)
        result.slow_upstream.append(wrk(DURATION))

    try:
        for number in range(ROUNDS):
            # Each round in the other order, as in B, so that a slower second half weighs on both.
            for measure in (no_upstream, slow_upstream)[:: 1 if number % 2 == 0 else -1]:
                measure(number)
    finally:
        in_sandbox("systemctl", "stop", "bench-upstream", check=False)
        in_sandbox("rm", "-f", program, check=False)
    return result


def measure_redeploy() -> Redeploy:
    """D: wrk runs from 5 s before the deploy until 5 s after it, whatever the deploy takes."""
    say("D: redeploy of a new release under load")
    final = "bench-final"
    now = serving()
    # The load needs the serving configuration (A's production rate limit would refuse most of
    # it) before the deploy starts, and bench-final must be a new release.
    if now is None or not SERVING_CONFIG["deployed"] or now.get("version") == final:
        deploy("bench-start")
    before = serving()
    if before is None:
        sys.exit("D: the sandbox host does not serve /healthz before the redeploy")
    loader = subprocess.Popen(wrk_command(URL + "/", 3600, CONNECTIONS), stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(5)
        seconds = deploy(final)
        after = serving() or {}
        time.sleep(5)
    finally:
        loader.send_signal(signal.SIGINT)  # wrk prints its summary on SIGINT
        output = loader.communicate(timeout=30)[0]
    redeploy = Redeploy(deploy_s=seconds, expected_version=final, release_before=str(before["release"]),
                        version_after=str(after.get("version", "")), release_after=str(after.get("release", "")),
                        load=parse_wrk(output))
    say(f"    {redeploy.load.requests} requests, {redeploy.load.failed} failed; now {redeploy.release_after}")
    return redeploy


# --- main --------------------------------------------------------------------------------------


def machine(load_start: list[float]) -> Machine:
    cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    meminfo = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(encoding="utf-8"), re.M)
    return Machine(
        cores=CORES,
        cpu_model=model.group(1).strip() if model else platform.processor() or "unknown",
        memory_gib=round(int(meminfo.group(1)) / 1024**2, 1) if meminfo else 0.0,
        kernel=platform.release(),
        load_start=load_start,
        load_end=[round(x, 2) for x in os.getloadavg()],
    )


def commit() -> str:
    head = run("git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD", check=False).stdout.strip() or "unknown"
    # --no-optional-locks: reading must not lock the index of a checkout others work in.
    dirty = run("git", "-C", str(ROOT), "--no-optional-locks", "diff", "--quiet", "HEAD", check=False).returncode
    return head + ("+changes" if dirty else "")


def stop_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that clean up


def main() -> None:
    unknown = sorted(set(SELECTED) - set(PARTS))
    if unknown:
        sys.exit(f"BENCH_PARTS: unknown parts {unknown}; the parts are {','.join(PARTS)}")
    parts = [part for part in PARTS if part in SELECTED]
    if not shutil.which("wrk") and {"serve", "upstream", "redeploy"} & set(parts):
        run("apt-get", "install", "-y", "-q", "wrk")
    LOGS.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, stop_on_signal)
    signal.signal(signal.SIGHUP, stop_on_signal)
    os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "scripts" / "containers.conf"))
    # The project's ansible.cfg, with SSH control sockets of this run only: a control master left
    # from an earlier run could point at a container that no longer exists.
    control_dir = tempfile.mkdtemp(prefix="bench-cp-")
    ANSIBLE_ENV.update(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_SSH_CONTROL_PATH_DIR=control_dir)
    load_start = [round(x, 2) for x in os.getloadavg()]
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    started = time.monotonic()
    settings = Settings(parts=parts, wrk_seconds=DURATION, wrk_connections=CONNECTIONS, rounds=ROUNDS,
                        latency_rate=LATENCY_RATE, latency_seconds=LATENCY_SECONDS,
                        latency_connections=LATENCY_CONNECTIONS, host_count=HOST_COUNT, sandbox_platform=PLATFORM)
    measured: dict[str, Any] = {}
    say(f"parts: {', '.join(parts)}; sandbox {SANDBOX_HOST.name} on {URL} (SSH {SANDBOX_HOST.ssh_port})")
    try:
        if "converge" in parts:
            measured["converge"] = measure_converge()
        if "change" in parts:
            measured["change"] = measure_change(converged="converge" in parts)
        if "converge" in parts:
            measured["seed_script"] = measure_seed_script()
        if "hosts" in parts:
            measured["hosts"] = measure_hosts()
        if {"serve", "upstream", "redeploy"} & set(parts):
            start_hosts([SANDBOX_HOST], fresh=False)
        if "serve" in parts:
            measured["serve"] = measure_serving()
        if "upstream" in parts:
            measured["upstream"] = measure_upstream()
        if "redeploy" in parts:
            measured["redeploy"] = measure_redeploy()
    finally:
        remove_created_hosts()
        shutil.rmtree(control_dir, ignore_errors=True)
    results = Results(date=date, commit=commit(), runtime_s=time.monotonic() - started, machine=machine(load_start),
                      settings=settings, **measured)
    save(results, RESULTS)
    say(f"results in {RESULTS.relative_to(ROOT)}; the table, charts and docs/benchmark.md: bench/report.py")


if __name__ == "__main__":
    main()
