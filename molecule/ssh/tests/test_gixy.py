"""gixy-ng, an nginx misconfiguration analyser, finds nothing in the rendered configuration."""

from __future__ import annotations

from quote_testlib import molecule_hosts

testinfra_hosts = molecule_hosts()

GIXY = "gixy-ng==0.2.59"


def test_gixy_finds_no_issue(host):
    install = host.run(f"python3 -m venv /tmp/gixy && /tmp/gixy/bin/pip install --quiet {GIXY}")
    assert install.rc == 0, install.stderr
    report = host.run("/tmp/gixy/bin/gixy /etc/nginx/nginx.conf")
    assert report.rc == 0, report.stdout + report.stderr
    assert "No issues found" in report.stdout, report.stdout
