"""The typed results of `make bench`: what bench/bench.py measures and bench/report.py reads.

The results file (.bench/results.json) holds measured values only, each part of the bench in its
own dataclass; ratios and means are properties computed from them, so that the JSON cannot hold
a ratio that disagrees with its figures. A part that did not run (BENCH_PARTS) is null.

`load()` rebuilds the dataclasses from the JSON and refuses a file of another schema or with
missing or unknown fields, rather than reporting half of it.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# Bumped when a field changes meaning or goes away; report.py reads only its own schema.
SCHEMA = 2

# The parts of the bench, in the order they run (BENCH_PARTS selects some).
PARTS = ("converge", "change", "hosts", "serve", "upstream", "redeploy")


def mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@dataclass
class TaskTime:
    """One task of profile_tasks' recap."""

    task: str
    seconds: float


@dataclass
class Machine:
    """The machine the bench ran on, read at run time: the controller and every host share it."""

    cores: int
    cpu_model: str
    memory_gib: float
    kernel: str
    # os.getloadavg() (1, 5, 15 min) when the bench started and when it ended.
    load_start: list[float]
    load_end: list[float]


@dataclass
class Settings:
    """How the run was made (the BENCH_* environment variables)."""

    parts: list[str]
    wrk_seconds: int
    wrk_connections: int
    rounds: int
    latency_rate: int
    latency_seconds: int
    latency_connections: int
    host_count: int
    sandbox_platform: str


@dataclass
class Converge:
    """A.1: a fresh converge and a no-change rerun, with mitogen and with Ansible's linear strategy."""

    fresh_s: float
    rerun_s: float
    rerun_changed: int
    # The machine's busy cores during the fresh converge (/proc/stat), for A.4's floor.
    fresh_busy_cores: float
    fresh_top10: list[TaskTime]
    rerun_top10: list[TaskTime]
    linear_fresh_s: float
    linear_rerun_s: float
    linear_rerun_changed: int
    # Tasks the no-change rerun ran and skipped (from the play recap); -1 in results of older benches.
    rerun_ran: int = -1
    rerun_skipped: int = -1

    @property
    def rerun_ratio(self) -> float:
        return self.rerun_s / self.fresh_s


@dataclass
class CodeChange:
    """A.2: a run that deploys a one-line code change (same label) on a converged host.

    time_to_serve_s counts from the start of ansible-playbook to the first /healthz answer that
    reports the new release; None when no answer did.
    """

    time_to_serve_s: float | None
    run_s: float
    changed: int
    release_before: str
    release_after: str
    polls: int
    # Polls that got no answer or no 200 (each waits at most the poll timeout), and their kinds
    # ("HTTP 502", "TimeoutError", ...).
    poll_failures: int
    poll_failure_kinds: list[str] = field(default_factory=list)

    @property
    def served(self) -> bool:
        return self.time_to_serve_s is not None and self.release_after != self.release_before

    @property
    def serve_ratio(self) -> float | None:
        return None if self.time_to_serve_s is None else self.time_to_serve_s / self.run_s


@dataclass
class SeedScript:
    """A.3: the seed tutorial's steps as a shell script on a fresh host."""

    seconds: float


@dataclass
class Hosts:
    """A.4: several fresh hosts in one run."""

    count: int
    seconds: float
    busy_cores: float
    top10: list[TaskTime]


@dataclass
class Wrk:
    """One wrk measure."""

    requests: int
    rps: float
    non_2xx: int
    socket_errors: int
    socket_errors_by_kind: dict[str, int]
    p50_ms: float
    p99_ms: float

    @property
    def failed(self) -> int:
        return self.non_2xx + self.socket_errors


@dataclass
class OpenLoop:
    """One measure of the open-loop generator (bench/loadgen.py)."""

    sent: int
    achieved_rps: float
    errors: int
    error_kinds: list[str]
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class ServeRound:
    wrk: Wrk
    latency: OpenLoop


@dataclass
class Stack:
    """B: one configuration (ours or the seed's), its alternating rounds."""

    rounds: list[ServeRound]

    @property
    def rps(self) -> float:
        return mean([r.wrk.rps for r in self.rounds])

    @property
    def wrk_errors(self) -> int:
        return sum(r.wrk.failed for r in self.rounds)

    @property
    def p50_ms(self) -> float:
        return mean([r.latency.p50_ms for r in self.rounds])

    @property
    def p99_ms(self) -> float:
        return mean([r.latency.p99_ms for r in self.rounds])

    @property
    def latency_errors(self) -> int:
        return sum(r.latency.errors for r in self.rounds)


@dataclass
class Serve:
    """B.1-B.3: our stack and the seed's configuration side by side in the sandbox host."""

    # The cores the sandbox host sees (nproc).
    cores: int
    inprocess_rounds: list[float]
    ours: Stack
    seed: Stack

    @property
    def inprocess_rps(self) -> float:
        return mean(self.inprocess_rounds)

    @property
    def ratio(self) -> float:
        return self.ours.rps / self.seed.rps

    def efficiency(self, stack: Stack) -> float:
        """Stack req/s / (in-process req/s x cores): 1 if HTTP, nginx and wrk cost nothing."""
        return stack.rps / (self.inprocess_rps * self.cores)


@dataclass
class Upstream:
    """C: page req/s with no upstream and with a fake upstream answering in 200 ms."""

    no_upstream: list[Wrk]
    slow_upstream: list[Wrk]

    @property
    def no_upstream_rps(self) -> float:
        return mean([m.rps for m in self.no_upstream])

    @property
    def slow_upstream_rps(self) -> float:
        return mean([m.rps for m in self.slow_upstream])

    @property
    def slow_upstream_p99_ms(self) -> float:
        return max(m.p99_ms for m in self.slow_upstream)

    @property
    def ratio(self) -> float:
        return self.slow_upstream_rps / self.no_upstream_rps


@dataclass
class Redeploy:
    """D: wrk loads the site from before a new release's deploy until after it."""

    deploy_s: float
    expected_version: str
    release_before: str
    version_after: str
    release_after: str
    load: Wrk

    @property
    def new_release_served(self) -> bool:
        return self.version_after == self.expected_version and self.release_after != self.release_before


@dataclass
class Results:
    """Everything one run of bench/bench.py measured (.bench/results.json)."""

    date: str
    commit: str
    runtime_s: float
    machine: Machine
    settings: Settings
    converge: Converge | None = None
    change: CodeChange | None = None
    seed_script: SeedScript | None = None
    hosts: Hosts | None = None
    serve: Serve | None = None
    upstream: Upstream | None = None
    redeploy: Redeploy | None = None
    schema: int = field(default=SCHEMA)


# --- JSON ---------------------------------------------------------------------------------------


def to_json(results: Results) -> str:
    return json.dumps(dataclasses.asdict(results), indent=2) + "\n"


def save(results: Results, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_json(results), encoding="utf-8")


class ResultsError(ValueError):
    """The results file does not match the schema of this bench."""


T = TypeVar("T")


def from_dict(cls: type[T], data: Any, where: str = "results") -> T:
    """Build dataclass *cls* from parsed JSON, checking every field's type on the way."""
    return typing.cast(T, _convert(cls, data, where))


def _convert(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        (inner,) = [option for option in options if option is not type(None)]
        return _convert(inner, value, where)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise ResultsError(f"{where}: expected an object, got {value!r}")
        hints = typing.get_type_hints(kind)
        names = {f.name for f in dataclasses.fields(kind)}
        if unknown := sorted(set(value) - names):
            raise ResultsError(f"{where}: unknown fields {unknown}")
        kwargs = {}
        for f in dataclasses.fields(kind):
            if f.name in value:
                kwargs[f.name] = _convert(hints[f.name], value[f.name], f"{where}.{f.name}")
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ResultsError(f"{where}: missing field {f.name!r}")
        return kind(**kwargs)
    if origin is list:
        (inner,) = typing.get_args(kind)
        if not isinstance(value, list):
            raise ResultsError(f"{where}: expected a list, got {value!r}")
        return [_convert(inner, item, f"{where}[{n}]") for n, item in enumerate(value)]
    if origin is dict:
        _, inner = typing.get_args(kind)
        if not isinstance(value, dict):
            raise ResultsError(f"{where}: expected an object, got {value!r}")
        return {str(k): _convert(inner, v, f"{where}.{k}") for k, v in value.items()}
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ResultsError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind in (int, str, bool):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ResultsError(f"{where}: expected {kind.__name__}, got {value!r}")
        return value
    raise TypeError(f"{where}: no conversion for {kind!r}")


def load(path: Path) -> Results:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"{path} does not exist: run `make bench` first") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else None
        raise ResultsError(f"{path} has schema {found!r}, this bench reads {SCHEMA}: run `make bench` again")
    return from_dict(Results, data)
