"""UFW on the converged host: exactly our rules, and it really filters traffic from outside."""

from __future__ import annotations

import os
import socket
import time

import pytest
from quote_testlib import http_get, molecule_hosts, published_port

testinfra_hosts = molecule_hosts()

# The SSH port(s) sshd listens on inside the host; a scenario that moves sshd says so.
SSH_PORTS = os.environ.get("QUOTE_SSH_PORTS", "22").split(",")

EXPECTED_RULES = {("80/tcp", "ALLOW", "Anywhere"), ("80/tcp (v6)", "ALLOW", "Anywhere (v6)")} | {
    rule for port in SSH_PORTS
    for rule in ((f"{port}/tcp", "LIMIT", "Anywhere"), (f"{port}/tcp (v6)", "LIMIT", "Anywhere (v6)"))
}


def ufw_rules(host) -> set[tuple[str, str, str]]:
    """Parse `ufw status` into (to, action, from) triples, dropping the comments."""
    rules = set()
    for line in host.check_output("ufw status").splitlines():
        parts = [p.strip() for p in line.split("#")[0].split("  ") if p.strip()]
        if len(parts) == 3 and parts[0] not in ("To", "--"):
            rules.add(tuple(parts))
    return rules


def test_ufw_is_active_with_default_deny(host):
    status = host.check_output("ufw status verbose")
    assert "Status: active" in status
    assert "Default: deny (incoming), allow (outgoing)" in status


def foreign_rules() -> set[tuple[str, str, str]]:
    """Rules of other applications that the scenario added on purpose (QUOTE_FOREIGN_UFW_RULES)."""
    rules = os.environ.get("QUOTE_FOREIGN_UFW_RULES", "")
    return {tuple(rule.split("|")) for rule in rules.split(";") if rule}


def test_ufw_has_exactly_our_rules(host):
    assert ufw_rules(host) == EXPECTED_RULES | foreign_rules()


def test_our_rules_are_marked_as_ours(host):
    lines = [line for line in host.check_output("ufw status").splitlines() if "/tcp" in line]
    ours = [line for line in lines if not any(line.startswith(rule[0] + " ") for rule in foreign_rules())]
    assert ours and all(line.rstrip().endswith("# quote-app") for line in ours), lines


@pytest.fixture
def listener(host):
    """A throwaway TCP listener on port 9999 inside the host, a port the firewall does not allow."""
    host.run("systemctl stop quote-test-listener.service; systemctl reset-failed quote-test-listener.service")
    host.check_output("systemd-run --unit quote-test-listener python3 -m http.server 9999 --bind 0.0.0.0")
    for _ in range(50):
        if host.run("python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:9999/')\"").rc == 0:
            break
        time.sleep(0.1)
    else:
        pytest.fail("the test listener did not come up inside the host")
    yield 9999
    host.run("systemctl stop quote-test-listener.service")


def test_port_not_allowed_is_unreachable_from_outside(host, listener, site_url):
    assert http_get(site_url + "/healthz").status == 200  # the same path works for an allowed port
    port = published_port(host.backend.name, listener)
    with pytest.raises(OSError):
        with socket.create_connection(("127.0.0.1", port), timeout=3) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            if not conn.recv(1):
                raise ConnectionResetError("closed without an answer")
