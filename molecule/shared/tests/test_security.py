"""Secure defaults, seen the way an auditor or an attacker sees them."""

from __future__ import annotations

import http.client
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from quote_testlib import SITE_ACCESS_LOG, SITE_ERROR_LOG, flush_access_logs, http_get, molecule_hosts

testinfra_hosts = molecule_hosts()

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def test_service_exposure_is_at_most_two(host):
    report = host.run("systemd-analyze security --no-pager quote-app.service")
    match = re.search(r"Overall exposure level for quote-app\.service: ([0-9.]+)", report.stdout)
    assert match, report.stdout + report.stderr
    assert float(match.group(1)) <= 2.0, report.stdout


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("User", "quote-app"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("PrivateNetwork", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("SystemCallArchitectures", "native"),
        ("UMask", "0077"),
    ],
)
def test_effective_sandbox_settings(host, prop, value):
    # systemctl show reports what systemd parsed, so a misspelt key in the file shows up here.
    assert host.check_output(f"systemctl show -P {prop} quote-app.service") == value


def test_gunicorn_control_socket_is_off(host):
    # gunicorn's options travel with the release, in the gunicorn.env its service reads.
    unit = host.file("/etc/systemd/system/quote-app.service").content_string
    assert "EnvironmentFile=/opt/quote-app/current/gunicorn.env" in unit
    assert "--no-control-socket" in host.file("/opt/quote-app/current/gunicorn.env").content_string
    assert host.run("find / -xdev -name 'gunicorn.ctl' -print -quit").stdout == ""


@pytest.mark.parametrize("path", ["/", "/no-such-page", "/static/style.css"])
def test_security_headers_on_every_response(site_url, path):
    reply = http_get(site_url + path)
    for header, value in SECURITY_HEADERS.items():
        assert reply.headers.get(header) == value, (path, reply.status, header)
    csp = reply.headers.get("content-security-policy", "")
    assert "default-src 'none'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_server_header_has_no_version(site_url):
    assert http_get(site_url + "/no-such-page").headers.get("server") == "nginx"


def test_unknown_host_names_get_no_answer(site_url):
    address = urlsplit(site_url)
    conn = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        conn.request("GET", "/", headers={"Host": "unknown.invalid"})
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
    finally:
        conn.close()


def test_bursts_get_429_with_headers_and_healthz_is_not_limited(host, site_url):
    with ThreadPoolExecutor(max_workers=16) as pool:
        replies = list(pool.map(lambda _: http_get(site_url + "/"), range(80)))
    statuses = [reply.status for reply in replies]
    assert 429 in statuses and 200 in statuses, statuses
    # Refused requests are logged below the error log's level: a flood does not fill it.
    assert "limiting requests" not in host.run(f"cat {SITE_ERROR_LOG}").stdout
    limited = next(reply for reply in replies if reply.status == 429)
    assert limited.headers.get("x-content-type-options") == "nosniff"
    # Right after the burst, health checks still pass: /healthz is outside the limit.
    assert [http_get(site_url + "/healthz").status for _ in range(30)] == [200] * 30
    # And the limit lets the client back in once it slows down (other tests need "/" next).
    deadline = time.monotonic() + 15
    while http_get(site_url + "/").status == 429:
        assert time.monotonic() < deadline, "still limited 15 s after the burst"
        time.sleep(0.5)


def test_site_logs_are_rotated_daily_and_by_size_hourly(host):
    debug = host.run("logrotate --debug /etc/logrotate.d/nginx")
    assert debug.rc == 0, debug.stderr
    assert SITE_ACCESS_LOG in debug.stdout + debug.stderr
    assert host.file(SITE_ACCESS_LOG).exists
    assert re.search(r"(?m)^\s*maxsize 100M$", host.file("/etc/logrotate.d/nginx").content_string)
    # A log over the cap rotates at the next hourly run, not the next day.
    calendar = host.check_output("systemctl show -P TimersCalendar logrotate.timer")
    assert "OnCalendar=*-*-* *:00:00" in calendar, calendar


def test_site_log_is_buffered_and_written_on_reopen(host, site_url):
    """A request reaches the site's log from nginx's buffer (flushed every 5 s), not one write each."""
    log = host.file(SITE_ACCESS_LOG)
    flush_access_logs(host)  # an empty buffer: the 5 s start with our request
    probe = f"/buffer-probe-{uuid.uuid4().hex}"
    assert http_get(site_url + probe).status == 404
    assert probe not in log.content_string
    flush_access_logs(host)
    assert probe in log.content_string


@pytest.mark.parametrize("package", ["python3-pip", "python3-dev", "gcc"])
def test_no_compiler_or_system_pip_is_installed(host, package):
    """The tutorial's python3-pip and python3-dev pull in a compiler; every pin is a wheel, so none is needed."""
    assert not host.package(package).is_installed
