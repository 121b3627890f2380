"""Ansible reached this host over SSH on a non-standard port and enabled the firewall through it."""

from __future__ import annotations

import os
import socket
import subprocess

from quote_testlib import PROJECT_DIR, molecule_hosts

testinfra_hosts = molecule_hosts()

SSH_PORT = int(os.environ["QUOTE_SSH_TEST_PORT"])


def test_sshd_listens_only_on_the_moved_port(host):
    listeners = host.check_output("ss -Hltn")
    assert f":{SSH_PORT} " in listeners
    assert ":22 " not in listeners


def test_ssh_answers_from_outside_through_the_firewall(host):
    assert "Status: active" in host.check_output("ufw status")
    with socket.create_connection(("127.0.0.1", SSH_PORT), timeout=5) as conn:
        assert conn.recv(64).startswith(b"SSH-2.0-")


def test_ansible_user_still_logs_in_and_becomes_root(host):
    key = PROJECT_DIR / ".testbed" / "ssh" / "id_ed25519"
    result = subprocess.run(
        ["ssh", "-i", str(key), "-p", str(SSH_PORT), "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
         "deploy@127.0.0.1", "sudo", "-n", "id", "-u"],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"
