#!/usr/bin/env python3
"""`make bench`, the reporting half: from .bench/results.json, the table, the charts, the page.

    python bench/report.py [--results .bench/results.json] [--docs docs | --no-docs]

Prints the table (every figure, its target, met or not), draws the charts into .bench/ and, unless
--no-docs, copies them to docs/bench-*.png and writes docs/benchmark.md. Measures nothing:
bench/bench.py does (`make bench` runs both, `make bench-report` this one alone). With
BENCH_STRICT=1 a missed target makes the exit status 1.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchdata import PARTS, Results, ResultsError, load

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".bench"
DOCS = ROOT / "docs"
PAGE_NAME = "benchmark.md"
# A chart NAME.png in .bench/ is copied to docs/ as CHART_PREFIX + NAME.png.
CHART_PREFIX = "bench-"

# Targets (a row's target text and its test are written together below).
RERUN_RATIO_MAX = 0.15
FRESH_VS_SEED_MAX = 1.5
HOSTS_RATIO_MAX = 2.0
SERVE_RATIO_MIN = 1.5
UPSTREAM_RATIO_MIN = 0.9
# bench.py's POLL_TIMEOUT: a poll of A.2 waits this long for its answer.
POLL_TIMEOUT_S = 1.0
# Above this load average per core at the start, the page says the machine was busy.
BUSY_LOAD_PER_CORE = 0.5


@dataclass
class Row:
    measure: str
    value: str
    target: str = ""
    met: bool | None = None

    @property
    def met_text(self) -> str:
        return "" if self.met is None else ("yes" if self.met else "no")


@dataclass
class Chart:
    name: str  # file name in .bench/, e.g. converge.png
    title: str

    @property
    def docs_name(self) -> str:
        return CHART_PREFIX + self.name


def num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


# --- the table ---------------------------------------------------------------------------------


def rows_for(r: Results) -> list[Row]:
    """Every figure of the run with its target and whether it was met; parts not run give no rows."""
    rows: list[Row] = []
    c = r.converge
    if c:
        rows += [
            Row("A.1 fresh converge, sandbox host (s)", num(c.fresh_s)),
            Row("A.1 no-change rerun (s)", num(c.rerun_s)),
            Row("A.1 rerun / fresh", num(c.rerun_ratio, 2), f"<= {RERUN_RATIO_MAX}", c.rerun_ratio <= RERUN_RATIO_MAX),
            Row("A.1 rerun changed tasks", str(c.rerun_changed), "0", c.rerun_changed == 0),
            *([Row("A.1 rerun tasks: ran / skipped", f"{c.rerun_ran} / {c.rerun_skipped}")]
              if c.rerun_ran >= 0 else []),
            Row("A.1 without mitogen (linear): fresh / rerun (s)",
                f"{num(c.linear_fresh_s)} / {num(c.linear_rerun_s)}"),
            Row("A.1 without mitogen: rerun changed tasks", str(c.linear_rerun_changed), "0",
                c.linear_rerun_changed == 0),
            Row("A.1 mitogen / linear: fresh, rerun",
                f"{num(c.fresh_s / c.linear_fresh_s, 2)}, {num(c.rerun_s / c.linear_rerun_s, 2)}"),
        ]
    if ch := r.change:
        rerun = c.rerun_s if c else None
        kinds = f" ({', '.join(ch.poll_failure_kinds)})" if ch.poll_failures and ch.poll_failure_kinds else ""
        rows += [
            Row("A.2 code-only change: time to serve (s)",
                num(ch.time_to_serve_s) if ch.time_to_serve_s is not None else "never"),
            Row("A.2 code-only change: whole run (s)", num(ch.run_s)),
            Row("A.2 time to serve / whole run", num(ch.serve_ratio, 2) if ch.serve_ratio is not None else "n/a"),
            Row("A.2 no-change rerun, from A.1 (s)", num(rerun) if rerun is not None else "not run"),
            Row("A.2 time to serve / no-change rerun",
                num(ch.time_to_serve_s / rerun, 2) if rerun and ch.time_to_serve_s is not None else "n/a"),
            Row("A.2 release answering after the change", ch.release_after, "a new release", ch.served),
            Row(f"A.2 /healthz polls: all / failed or over {POLL_TIMEOUT_S:g} s",
                f"{ch.polls} / {ch.poll_failures}{kinds}"),
        ]
    if s := r.seed_script:
        rows.append(Row("A.3 seed tutorial as a shell script (s)", num(s.seconds)))
        if c:
            ratio = c.fresh_s / s.seconds
            rows.append(Row("A.3 fresh converge / seed script", num(ratio, 2), f"<= {FRESH_VS_SEED_MAX}",
                            ratio <= FRESH_VS_SEED_MAX))
    if h := r.hosts:
        rows.append(Row(f"A.4 {h.count} fresh hosts in one run (s)", num(h.seconds)))
        if c:
            ratio = h.seconds / c.fresh_s
            rows.append(Row(f"A.4 {h.count} hosts / 1 host", num(ratio, 2), f"<= {HOSTS_RATIO_MAX:g}",
                            ratio <= HOSTS_RATIO_MAX))
            rows.append(Row("A.4 busy cores: 1 host, all hosts",
                            f"{num(c.fresh_busy_cores, 2)}, {num(h.busy_cores, 2)}"))
            # N hosts need N times one host's CPU time; at best they get every core.
            floor = max(1.0, h.count * c.fresh_busy_cores / r.machine.cores)
            rows.append(Row(f"A.4 floor: {h.count} x 1 host's busy cores / {r.machine.cores} cores", num(floor, 2)))
    if sv := r.serve:
        ours, seed = sv.ours, sv.seed
        rate = r.settings.latency_rate
        rows += [
            Row("B.1 req/s, our stack", num(ours.rps, 0)),
            Row("B.1 req/s, seed configuration", num(seed.rps, 0)),
            Row("B.1 ours / seed", num(sv.ratio, 2), f">= {SERVE_RATIO_MIN}", sv.ratio >= SERVE_RATIO_MIN),
            Row("B.1 wrk errors (ours / seed)", f"{ours.wrk_errors} / {seed.wrk_errors}", "0",
                ours.wrk_errors + seed.wrk_errors == 0),
            Row("B.2 in-process WSGI req/s, one core", num(sv.inprocess_rps, 0)),
            Row(f"B.2 stack / (in-process x {sv.cores}), ours", num(sv.efficiency(ours), 2)),
            Row(f"B.2 stack / (in-process x {sv.cores}), seed", num(sv.efficiency(seed), 2)),
            Row(f"B.3 p50 / p99 ms at {rate} req/s, ours", f"{num(ours.p50_ms)} / {num(ours.p99_ms)}"),
            Row(f"B.3 p50 / p99 ms at {rate} req/s, seed", f"{num(seed.p50_ms)} / {num(seed.p99_ms)}"),
            Row("B.3 errors at fixed rate (ours / seed)", f"{ours.latency_errors} / {seed.latency_errors}", "0",
                ours.latency_errors + seed.latency_errors == 0),
        ]
    if u := r.upstream:
        rows += [
            Row("C page req/s, no upstream", num(u.no_upstream_rps, 0)),
            Row("C page req/s, upstream answering in 200 ms", num(u.slow_upstream_rps, 0)),
            Row("C ratio slow upstream / none", num(u.ratio, 2), f">= {UPSTREAM_RATIO_MIN}",
                u.ratio >= UPSTREAM_RATIO_MIN),
            Row("C p99 latency, slow upstream (ms)", num(u.slow_upstream_p99_ms)),
        ]
    if d := r.redeploy:
        rows += [
            Row("D requests during redeploy", str(d.load.requests)),
            Row("D non-2xx / socket errors during redeploy", f"{d.load.non_2xx} / {d.load.socket_errors}", "0",
                d.load.failed == 0),
            Row("D release served after redeploy", d.release_after or "none",
                f"a new {d.expected_version}-* release", d.new_release_served),
            Row("D redeploy took (s)", num(d.deploy_s)),
        ]
    return rows


def missed(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.met is False]


def text_table(rows: list[Row]) -> str:
    width = max([len(row.measure) for row in rows] + [7])
    value_width = max([len(row.value) for row in rows] + [13])
    target_width = max([len(row.target) for row in rows] + [11])
    lines = [f"{'measure':<{width}}  {'value':>{value_width}}  {'target':<{target_width}}  met",
             f"{'-' * width}  {'-' * value_width}  {'-' * target_width}  ---"]
    lines += [f"{row.measure:<{width}}  {row.value:>{value_width}}  {row.target:<{target_width}}  {row.met_text}"
              for row in rows]
    return "\n".join(lines)


def markdown_cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: list[Row]) -> str:
    lines = ["| measure | value | target | met |", "| --- | --- | --- | --- |"]
    lines += [f"| {markdown_cell(row.measure)} | {markdown_cell(row.value)} | {markdown_cell(row.target)} | "
              f"{row.met_text} |" for row in rows]
    return "\n".join(lines)


def settings_line(r: Results) -> str:
    s = r.settings
    said = [f"parts {','.join(s.parts)}", f"the hosts' platform {s.sandbox_platform}"]
    if "hosts" in s.parts:
        said.append(f"{s.host_count} hosts in A.4")
    if {"serve", "upstream", "redeploy"} & set(s.parts):
        said.append(f"wrk -t2 -c{s.wrk_connections}")
    if {"serve", "upstream"} & set(s.parts):
        said.append(f"{s.wrk_seconds} s per wrk measure, {s.rounds} alternating rounds")
    if "serve" in s.parts:
        said.append(f"open loop {s.latency_rate} req/s for {s.latency_seconds} s on {s.latency_connections} connections")
    return "; ".join(said)


# --- the page ----------------------------------------------------------------------------------

# What each part measures: timeless, and the same for every run.
PART_TEXT: dict[str, tuple[str, str]] = {
    "converge": ("A.1, A.3: converge", """\
- **A.1** converges a freshly created sandbox host with the production playbook over SSH and the
  project's `ansible.cfg` (mitogen), then reruns it at once with nothing to change (target: the
  rerun takes at most 0.15 of the fresh converge, and changes nothing). The same is first done
  on another fresh host with Ansible's own linear strategy, to show what mitogen changes.
- **A.3** runs the seed tutorial's steps as a plain shell script (`bench/seed-baseline.sh`: apt,
  a virtualenv, unpinned pip, a systemd unit with 3 workers on a unix socket, the tutorial's nginx
  site, UFW) on a fresh host of the same image (target: our fresh converge takes at most 1.5
  times the script)."""),
    "change": ("A.2: time to serve a code change", """\
- **A.2** starts from the host A.1 converged (in a run without A.1, from the sandbox host
  converged first, untimed), changes one line of the app's code (a comment in `app.py`, in a copy
  of `files/app`) and runs the playbook with `quote_app_source_dir` pointing at
  the copy, under the same label. `/healthz` is asked through nginx every 0.1 s from the moment
  `ansible-playbook` starts; **time to serve** is the time until it first reports the new
  release. It is given beside the whole run's duration and A.1's no-change rerun: what an operator
  waits for a code change to go live, against what the same playbook costs when nothing changes.
  The target is that the new release answers; unanswered polls are counted, not hidden."""),
    "hosts": ("A.4: several hosts", """\
- **A.4** converges several fresh hosts (`BENCH_HOSTS`) in one run and compares the time with A.1's
  one host (target: at most 2 times). Every container shares the machine's cores, so the table
  gives the machine's busy cores during both runs (`/proc/stat`) and the floor they set: N times
  one host's busy cores divided by the cores is the least the N hosts can take, relative to one."""),
    "serve": ("B: serving", """\
- **B.1** loads our stack with wrk and, beside it in the same host, the seed's configuration (the
  tutorial's gunicorn command line on the same release, behind its nginx server block, reached with
  `Host: seed.bench`), in alternating rounds (target: ours serves at least 1.5 times the seed's
  req/s, without errors).
- **B.2** calls the app through WSGI in a loop on one core, without HTTP (`bench/remote/inprocess.py`),
  and gives each stack's req/s divided by that times the cores: 1 would mean HTTP, nginx and wrk
  cost nothing.
- **B.3** sends a fixed rate from an open-loop generator (`bench/loadgen.py`) and gives p50 and p99
  latency, counted from each request's scheduled time so that a stall is not hidden (target: no
  failed request)."""),
    "upstream": ("C: a slow upstream", """\
- **C** measures the page's req/s with no upstream and with a fake upstream in the host that
  answers after 200 ms (`bench/remote/fake_upstream.py`), in alternating order. The app fetches
  off the request path, so a slow upstream must not slow the page (target: ratio at least 0.9)."""),
    "redeploy": ("D: redeploy under load", """\
- **D** loads the site with wrk from 5 s before a new release's deploy until 5 s after it
  (target: no non-2xx answer and no socket error, and the new release serves afterwards)."""),
}

CONFIG_TEXT = """\
A deploys the production configuration. B to D deploy it with the rate limit lifted (wrk is
one client sending all the load) and the app's network opened (for C's fake upstream). Every
container is the bench's own (`bench-sandbox`, `bench-seed`, `bench-host-N` on loopback ports of
their own) and is removed at the end; traffic goes only to 127.0.0.1."""

RUNNING_TEXT = """\
```sh
make bench          # measure (.bench/results.json, logs in .bench/logs/), then write this page
make bench-report   # write this page again from the existing .bench/results.json
```

For short development runs, `.venv/bin/python bench/bench.py` takes `BENCH_PARTS` (any of
`{parts}`), `BENCH_SECONDS` (15), `BENCH_ROUNDS` (2), `BENCH_LATENCY_SECONDS` (20),
`BENCH_LATENCY_RATE` (200), `BENCH_HOSTS` (4) and `BENCH_KEEP_SANDBOX=1` (keeps `bench-sandbox`
for the next run); `.venv/bin/python bench/report.py --no-docs` then prints the table without
touching this page. `BENCH_STRICT=1` makes a missed target fail the command.

The measuring is [bench/bench.py](../bench/bench.py) with the programs it runs in the hosts under
[bench/remote/](../bench/remote/); the results' types are in [bench/benchdata.py](../bench/benchdata.py);
this page, the table and the charts come from [bench/report.py](../bench/report.py)."""


def machine_lines(r: Results) -> list[str]:
    m = r.machine
    return [
        f"- Run: {r.date}, commit `{r.commit}`, {num(r.runtime_s / 60)} min.",
        f"- Machine: {m.cores} cores ({m.cpu_model}), {num(m.memory_gib)} GiB, Linux {m.kernel}; "
        "the controller and every host container share it.",
        f"- Load average (1, 5, 15 min): {', '.join(num(x, 2) for x in m.load_start)} at the start, "
        f"{', '.join(num(x, 2) for x in m.load_end)} at the end.",
        f"- Settings: {settings_line(r)}.",
    ]


def notes(r: Results) -> list[str]:
    """Warnings about this run that a reader needs before the figures."""
    out = []
    not_run = [part for part in PARTS if part not in r.settings.parts]
    if not_run:
        out.append(f"**A partial run**: the parts {', '.join(not_run)} did not run (`BENCH_PARTS`), "
                   "so their rows and charts are missing and the ratios that need them say `n/a`.")
    if r.machine.load_start and r.machine.load_start[0] > BUSY_LOAD_PER_CORE * r.machine.cores:
        out.append(f"**A busy machine**: the load average was {num(r.machine.load_start[0], 2)} on "
                   f"{r.machine.cores} cores when the run started, so other work shared the cores and "
                   "these figures are not comparable with those of a quiet machine.")
    return out


def render_page(r: Results, rows: list[Row], charts: list[Chart]) -> str:
    """docs/benchmark.md: generated, never edited by hand."""
    parts = [
        "<!-- Generated by bench/report.py from .bench/results.json (`make bench`, or `make bench-report`",
        "     from an existing results file). Do not edit: change bench/report.py and regenerate. -->",
        "",
        "# Benchmark",
        "",
        "This page is generated by `make bench` from its results file, `.bench/results.json`, with its",
        "charts; `make bench-report` writes it again from an existing results file without measuring.",
        "Nobody edits its figures by hand: they are those of the run described below.",
        "",
        "## The run",
        "",
        *machine_lines(r),
        "",
    ]
    for note in notes(r):
        parts += [note, ""]
    parts += [
        "## Results",
        "",
        "Each ratio's target is in the `target` column; `met` says whether this run met it.",
        "",
        markdown_table(rows) if rows else "No part ran.",
        "",
    ]
    if missed_rows := missed(rows):
        parts += ["Targets missed: " + "; ".join(row.measure for row in missed_rows) + ".", ""]
    if charts:
        parts += ["## Charts", ""]
        for chart in charts:
            parts += [f"![{chart.title}]({chart.docs_name})", ""]
    if r.converge and r.converge.rerun_top10:
        parts += ["## Slowest tasks of the no-change rerun", "", "From `profile_tasks` (A.1, with mitogen):", "",
                  "| task | seconds |", "| --- | --- |"]
        parts += [f"| {markdown_cell(t.task)} | {num(t.seconds, 2)} |" for t in r.converge.rerun_top10]
        parts.append("")
    parts += ["## What each part measures", ""]
    for part in PARTS:
        title, text = PART_TEXT[part]
        ran = "" if part in r.settings.parts else " (not in this run)"
        parts += [f"### {title}{ran}", "", text, ""]
    parts += [CONFIG_TEXT, "", "## Running it", "", RUNNING_TEXT.format(parts=",".join(PARTS)), ""]
    return "\n".join(parts)


# --- the charts --------------------------------------------------------------------------------


def write_charts(r: Results, out: Path) -> list[Chart]:
    """Draw the charts the run's parts allow into *out*; none without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing (pip install -r bench/requirements.txt): no charts")
        return []

    def save(fig: Any, ax: Any, ylabel: str, chart: Chart) -> Chart:
        ax.set_ylabel(ylabel)
        ax.set_title(chart.title)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / chart.name, dpi=100)
        plt.close(fig)
        return chart

    charts: list[Chart] = []
    c, h, s = r.converge, r.hosts, r.seed_script
    bars: list[tuple[str, float, str]] = []
    if c:
        bars += [("1 host", c.fresh_s, "#4477aa")]
    if h:
        bars += [(f"{h.count} hosts", h.seconds, "#4477aa")]
    if c:
        bars += [("rerun, 1 host", c.rerun_s, "#66ccee"), ("1 host,\nno mitogen", c.linear_fresh_s, "#aa3377"),
                 ("rerun,\nno mitogen", c.linear_rerun_s, "#ee99cc")]
    if s:
        bars += [("seed script", s.seconds, "#bbbbbb")]
    if bars:
        fig, ax = plt.subplots(figsize=(8.5, 4.2))
        drawn = ax.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
        ax.bar_label(drawn, fmt="%.0f s")
        if c and h:
            ax.axhline(HOSTS_RATIO_MAX * c.fresh_s, color="#ee6677", linestyle="--",
                       label=f"target for {h.count} hosts: {HOSTS_RATIO_MAX:g} x 1 host")
        if s:
            ax.axhline(FRESH_VS_SEED_MAX * s.seconds, color="#228833", linestyle=":",
                       label=f"target for 1 host: {FRESH_VS_SEED_MAX} x seed script")
        charts.append(save(fig, ax, "seconds", Chart("converge.png", "Converge time (fresh hosts, over SSH)")))
    if ch := r.change:
        bars = []
        if ch.time_to_serve_s is not None:
            bars.append(("code change:\ntime to serve", ch.time_to_serve_s, "#228833"))
        bars.append(("code change:\nwhole run", ch.run_s, "#4477aa"))
        if c:
            bars.append(("no-change\nrerun", c.rerun_s, "#66ccee"))
        fig, ax = plt.subplots(figsize=(7, 4.2))
        drawn = ax.bar([b[0] for b in bars], [b[1] for b in bars], color=[b[2] for b in bars])
        ax.bar_label(drawn, fmt="%.1f s")
        charts.append(save(fig, ax, "seconds from the start of ansible-playbook",
                           Chart("deploy.png", "A code-only change on a converged host")))
    if sv := r.serve:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        drawn = ax.bar(["seed configuration", "our stack"], [sv.seed.rps, sv.ours.rps], color=["#bbbbbb", "#4477aa"])
        ax.bar_label(drawn, fmt="%.0f")
        ax.axhline(SERVE_RATIO_MIN * sv.seed.rps, color="#ee6677", linestyle="--",
                   label=f"target: {SERVE_RATIO_MIN} x seed")
        ax.axhline(sv.inprocess_rps * sv.cores, color="#228833", linestyle=":",
                   label=f"in-process WSGI x {sv.cores} cores (no HTTP)")
        charts.append(save(fig, ax, "requests per second (wrk, same host)",
                           Chart("throughput.png", "Page req/s by configuration")))
    return charts


def publish_charts(charts: list[Chart], out: Path, docs: Path) -> None:
    """Copy this run's charts to docs/ and remove the ones it did not draw (a partial run)."""
    keep = {chart.docs_name for chart in charts}
    for old in docs.glob(f"{CHART_PREFIX}*.png"):
        if old.name not in keep:
            old.unlink()
    for chart in charts:
        shutil.copyfile(out / chart.name, docs / chart.docs_name)


# --- main --------------------------------------------------------------------------------------


def report(r: Results, *, out: Path, docs: Path | None, echo: Callable[[str], None] = print) -> list[Row]:
    rows = rows_for(r)
    echo("\n" + (text_table(rows) if rows else "no part ran"))
    echo(f"({settings_line(r)}; bench took {num(r.runtime_s / 60)} min; raw figures in .bench/results.json)")
    if r.converge:
        echo("\nslowest tasks of the no-change rerun (profile_tasks):")
        for task in r.converge.rerun_top10:
            echo(f"  {task.seconds:6.2f} s  {task.task}")
    out.mkdir(parents=True, exist_ok=True)
    charts = write_charts(r, out)
    if charts:
        echo("charts: " + ", ".join(str(out / chart.name) for chart in charts))
    if docs is not None:
        docs.mkdir(parents=True, exist_ok=True)
        publish_charts(charts, out, docs)
        page = docs / PAGE_NAME
        page.write_text(render_page(r, rows, charts), encoding="utf-8")
        echo(f"page: {page}")
    if missed_rows := missed(rows):
        echo("targets missed: " + "; ".join(row.measure for row in missed_rows))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--results", type=Path, default=OUT / "results.json")
    parser.add_argument("--docs", type=Path, default=DOCS, help="where the page and its charts go (docs/)")
    parser.add_argument("--no-docs", action="store_true", help="print the table and draw the charts only")
    args = parser.parse_args(argv)
    try:
        results = load(args.results)
    except ResultsError as error:
        print(f"bench/report.py: {error}", file=sys.stderr)
        return 2
    rows = report(results, out=OUT, docs=None if args.no_docs else args.docs)
    # The table is the result; BENCH_STRICT=1 turns a missed target into a failing exit status.
    return 1 if missed(rows) and os.environ.get("BENCH_STRICT") == "1" else 0


if __name__ == "__main__":
    sys.exit(main())
