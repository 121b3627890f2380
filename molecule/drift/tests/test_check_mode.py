"""Check mode on a converged host: runs cleanly and predicts no change."""

from __future__ import annotations

from quote_testlib import molecule_hosts, recap, run_playbook

testinfra_hosts = molecule_hosts()


def test_check_mode_on_a_converged_host_reports_no_change(host):
    result = run_playbook("--check", "--diff", "--limit", host.backend.name)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    counters = recap(result.stdout)[host.backend.name]
    assert counters["failed"] == 0
    assert counters["changed"] == 0, result.stdout[-3000:]
