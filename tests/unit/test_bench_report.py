"""bench/report.py: the table and docs/benchmark.md from a fixed results structure, no containers.

The figures below are made up so that each target is met or missed on purpose; the tests check
what the page says about them, and that the results file round-trips through its typed schema.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

import bench
import benchdata
import report
from benchdata import (
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
)


def wrk(rps: float, non_2xx: int = 0, socket_errors: int = 0) -> Wrk:
    return Wrk(requests=int(rps * 10), rps=rps, non_2xx=non_2xx, socket_errors=socket_errors,
               socket_errors_by_kind={"connect": 0, "read": socket_errors, "write": 0, "timeout": 0},
               p50_ms=2.0, p99_ms=5.0)


def latency(errors: int = 0) -> OpenLoop:
    return OpenLoop(sent=2000, achieved_rps=199.5, errors=errors, error_kinds=["HTTP 502"] if errors else [],
                    p50_ms=1.5, p99_ms=3.0, max_ms=9.0)


def full_results() -> Results:
    return Results(
        date="2030-01-01 00:00 UTC",
        commit="0123456789ab",
        runtime_s=600.0,
        machine=Machine(cores=2, cpu_model="Test CPU", memory_gib=8.0, kernel="6.1.0",
                        load_start=[0.1, 0.2, 0.3], load_end=[1.0, 1.1, 1.2]),
        settings=Settings(parts=list(benchdata.PARTS), wrk_seconds=15, wrk_connections=16, rounds=2,
                          latency_rate=200, latency_seconds=20, latency_connections=32, host_count=4,
                          sandbox_platform="ubuntu2604"),
        # rerun / fresh = 0.5: misses <= 0.15.
        converge=Converge(fresh_s=32.0, rerun_s=16.0, rerun_changed=0, fresh_busy_cores=1.0,
                          fresh_top10=[TaskTime("Gathering Facts", 2.0)],
                          rerun_top10=[TaskTime("quote_app : Install the app's requirements", 1.25)],
                          linear_fresh_s=64.0, linear_rerun_s=32.0, linear_rerun_changed=0,
                          rerun_ran=120, rerun_skipped=60),
        change=CodeChange(time_to_serve_s=12.0, run_s=20.0, changed=5, release_before="1-aaaaaaaaaaaa",
                          release_after="1-bbbbbbbbbbbb", polls=120, poll_failures=2,
                          poll_failure_kinds=["TimeoutError"]),
        # fresh / seed = 32 / 40 = 0.8: meets <= 1.5.
        seed_script=SeedScript(seconds=40.0),
        # 4 hosts / 1 host = 96 / 32 = 3.0: misses <= 2.
        hosts=Hosts(count=4, seconds=96.0, busy_cores=1.6, top10=[]),
        # ours / seed = 4000 / 2000 = 2.0: meets >= 1.5.
        serve=Serve(cores=2, inprocess_rounds=[10000.0, 12000.0],
                    ours=Stack([ServeRound(wrk(4000.0), latency()), ServeRound(wrk(4000.0), latency())]),
                    seed=Stack([ServeRound(wrk(2000.0), latency()), ServeRound(wrk(2000.0), latency(errors=3))])),
        # slow / none = 800 / 1000 = 0.8: misses >= 0.9.
        upstream=Upstream(no_upstream=[wrk(1000.0)], slow_upstream=[wrk(800.0)]),
        redeploy=Redeploy(deploy_s=30.0, expected_version="bench-final", release_before="bench-start-cccccccccccc",
                          version_after="bench-final", release_after="bench-final-dddddddddddd",
                          load=wrk(3000.0, non_2xx=0, socket_errors=2)),
    )


def rows_by_measure(results: Results) -> dict[str, report.Row]:
    return {row.measure: row for row in report.rows_for(results)}


def test_targets_met_and_missed() -> None:
    rows = rows_by_measure(full_results())
    expected = {
        "A.1 rerun / fresh": ("0.50", "<= 0.15", False),
        "A.1 rerun changed tasks": ("0", "0", True),
        "A.3 fresh converge / seed script": ("0.80", "<= 1.5", True),
        "A.4 4 hosts / 1 host": ("3.00", "<= 2", False),
        "B.1 ours / seed": ("2.00", ">= 1.5", True),
        "B.3 errors at fixed rate (ours / seed)": ("0 / 3", "0", False),
        "C ratio slow upstream / none": ("0.80", ">= 0.9", False),
        "D non-2xx / socket errors during redeploy": ("0 / 2", "0", False),
        "D release served after redeploy": ("bench-final-dddddddddddd", "a new bench-final-* release", True),
        "A.2 release answering after the change": ("1-bbbbbbbbbbbb", "a new release", True),
    }
    for measure, (value, target, met) in expected.items():
        row = rows[measure]
        assert (row.value, row.target, row.met) == (value, target, met), measure


def test_the_rerun_task_counts_come_from_the_play_recap() -> None:
    output = ("PLAY RECAP *********\n"
              "bench-sandbox              : ok=120  changed=2    unreachable=0    failed=0    skipped=61   "
              "rescued=0    ignored=0\n")
    assert bench.play_recap(output) == ({"bench-sandbox": 2}, {"bench-sandbox": 120}, {"bench-sandbox": 61})
    assert rows_by_measure(full_results())["A.1 rerun tasks: ran / skipped"].value == "120 / 60"
    older = dataclasses.replace(full_results().converge, rerun_ran=-1, rerun_skipped=-1)
    assert "A.1 rerun tasks: ran / skipped" not in rows_by_measure(dataclasses.replace(full_results(), converge=older))


def test_time_to_serve_sits_next_to_the_rerun() -> None:
    rows = report.rows_for(full_results())
    measures = [row.measure for row in rows]
    serve = measures.index("A.2 code-only change: time to serve (s)")
    # The A.2 rows follow A.1's and come before A.3's, with the rerun repeated among them.
    assert measures[serve + 1] == "A.2 code-only change: whole run (s)"
    assert measures[serve + 2] == "A.2 time to serve / whole run"
    assert measures[serve + 3] == "A.2 no-change rerun, from A.1 (s)"
    assert max(i for i, m in enumerate(measures) if m.startswith("A.1")) < serve
    assert serve < min(i for i, m in enumerate(measures) if m.startswith("A.3"))
    values = {row.measure: row.value for row in rows}
    assert values["A.2 code-only change: time to serve (s)"] == "12.0"
    assert values["A.2 code-only change: whole run (s)"] == "20.0"
    assert values["A.2 time to serve / whole run"] == "0.60"
    assert values["A.2 no-change rerun, from A.1 (s)"] == values["A.1 no-change rerun (s)"] == "16.0"
    assert values["A.2 time to serve / no-change rerun"] == "0.75"
    assert values["A.2 /healthz polls: all / failed or over 1 s"] == "120 / 2 (TimeoutError)"


def test_a_release_that_never_answers_misses_its_target() -> None:
    results = full_results()
    assert results.change is not None
    results.change = dataclasses.replace(results.change, time_to_serve_s=None, release_after="1-aaaaaaaaaaaa")
    rows = rows_by_measure(results)
    assert rows["A.2 code-only change: time to serve (s)"].value == "never"
    assert rows["A.2 release answering after the change"].met is False
    # The same release label but the old id is not a new release for D either.
    assert results.redeploy is not None
    results.redeploy = dataclasses.replace(results.redeploy, release_after=results.redeploy.release_before)
    assert rows_by_measure(results)["D release served after redeploy"].met is False


def test_page_is_generated_with_table_targets_and_charts(tmp_path: Path) -> None:
    results = full_results()
    rows = report.rows_for(results)
    charts = [report.Chart("converge.png", "Converge time"), report.Chart("deploy.png", "A code-only change")]
    page = report.render_page(results, rows, charts)
    assert page.startswith("<!-- Generated by bench/report.py")
    assert "make bench-report" in page
    assert "| measure | value | target | met |" in page
    assert "| A.1 rerun / fresh | 0.50 | <= 0.15 | no |" in page
    assert "| B.1 ours / seed | 2.00 | >= 1.5 | yes |" in page
    # The time-to-serve row comes right after the A.1 rows, the rerun beside it.
    assert page.index("| A.1 mitogen / linear") < page.index("| A.2 code-only change: time to serve (s) | 12.0 |")
    assert "| A.2 no-change rerun, from A.1 (s) | 16.0 |" in page
    assert "![Converge time](bench-converge.png)" in page
    assert "![A code-only change](bench-deploy.png)" in page
    assert "Targets missed: A.1 rerun / fresh;" in page
    # The machine facts are the run's, read at run time.
    assert "2 cores (Test CPU)" in page
    assert "0.10, 0.20, 0.30 at the start" in page
    # A full run on a quiet machine carries no warning; a dated story of past runs has no place.
    assert "partial run" not in page
    assert "busy machine" not in page
    for part in benchdata.PARTS:
        assert report.PART_TEXT[part][0] in page


def test_page_of_a_partial_run_on_a_busy_machine() -> None:
    results = full_results()
    results.settings.parts = ["change", "redeploy"]
    results.converge = results.seed_script = results.hosts = results.serve = results.upstream = None
    results.machine.load_start = [3.5, 2.0, 1.0]
    rows = report.rows_for(results)
    assert not [row for row in rows if row.measure.startswith(("A.1", "A.3", "A.4", "B", "C"))]
    values = {row.measure: row.value for row in rows}
    assert values["A.2 no-change rerun, from A.1 (s)"] == "not run"
    assert values["A.2 time to serve / no-change rerun"] == "n/a"
    page = report.render_page(results, rows, [])
    assert "**A partial run**: the parts converge, hosts, serve, upstream did not run" in page
    assert "**A busy machine**: the load average was 3.50 on 2 cores" in page
    assert "## Charts" not in page
    assert "### A.1, A.3: converge (not in this run)" in page


def test_report_writes_the_page_and_removes_stale_charts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docs, out = tmp_path / "docs", tmp_path / "out"
    docs.mkdir()
    (docs / "bench-throughput.png").write_bytes(b"an old chart")
    (docs / "other.png").write_bytes(b"not the bench's")
    monkeypatch.setattr(report, "write_charts", lambda _r, _out: [])
    results_file = tmp_path / "results.json"
    benchdata.save(full_results(), results_file)
    monkeypatch.setattr(report, "OUT", out)
    monkeypatch.setenv("BENCH_STRICT", "1")
    assert report.main(["--results", str(results_file), "--docs", str(docs)]) == 1  # targets missed
    page = (docs / "benchmark.md").read_text(encoding="utf-8")
    assert "| D redeploy took (s) | 30.0 |" in page
    assert not (docs / "bench-throughput.png").exists()
    assert (docs / "other.png").exists()


def test_results_round_trip_and_schema_checks(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    results = full_results()
    benchdata.save(results, path)
    assert benchdata.load(path) == results
    data = json.loads(path.read_text(encoding="utf-8"))
    data["serve"]["ours"]["rounds"][0]["wrk"]["rps"] = "fast"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(benchdata.ResultsError, match=r"serve\.ours\.rounds\[0\]\.wrk\.rps"):
        benchdata.load(path)
    data = json.loads(benchdata.to_json(results))
    data["schema"] = 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(benchdata.ResultsError, match="schema 1"):
        benchdata.load(path)
    data["schema"] = benchdata.SCHEMA
    data["extra"] = 1
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(benchdata.ResultsError, match="unknown fields"):
        benchdata.load(path)
