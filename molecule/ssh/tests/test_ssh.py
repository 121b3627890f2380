"""Ansible reached this host over SSH on a non-standard port and enabled the firewall through it."""

from __future__ import annotations

import os
import socket
import subprocess

from quote_testlib import PROJECT_DIR, deploy, molecule_hosts

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


def test_every_port_sshd_listens_on_stays_open_and_a_bastion_skips_the_rate_limit(host):
    """As on Ubuntu 22.04 or Debian (no ssh.socket), sshd configured with ListenAddress lines:
    `sshd -T` still says "port 22022", but sshd also listens on 2200. A bastion's address gets
    SSH without the rate limit, ahead of the limited rule. Then the host is put back as it was."""
    conf = "/etc/ssh/sshd_config.d/20-listen.conf"
    host.check_output(
        f"printf 'ListenAddress 0.0.0.0:{SSH_PORT}\\nListenAddress [::]:{SSH_PORT}\\nListenAddress 0.0.0.0:2200\\n'"
        f" > {conf} && systemctl disable --now ssh.socket && systemctl mask ssh.socket"
        " && systemctl restart ssh.service")
    try:
        assert "sshd" in host.check_output("ss -Hltnp 'sport = :2200'")
        result = deploy("--tags", "firewall", firewall_ssh_allow_from=["192.0.2.10"])
        assert result.returncode == 0, result.stdout[-3000:]
        added = host.check_output("ufw show added")
        assert "ufw limit 2200/tcp comment 'quote-app'" in added, added
        assert f"ufw allow from 192.0.2.10 to any port {SSH_PORT} proto tcp comment 'quote-app'" in added, added
        numbered = host.check_output("ufw status numbered").splitlines()
        bastion = next(i for i, line in enumerate(numbered) if "192.0.2.10" in line and f"{SSH_PORT}/tcp" in line)
        limited = next(i for i, line in enumerate(numbered) if f"{SSH_PORT}/tcp" in line and "LIMIT" in line)
        assert bastion < limited, numbered
    finally:
        host.check_output(f"rm -f {conf} && systemctl stop ssh.service && systemctl unmask ssh.socket"
                          " && systemctl enable --now ssh.socket")
    result = deploy("--tags", "firewall")
    assert result.returncode == 0, result.stdout[-3000:]
    added = host.check_output("ufw show added")
    assert "2200" not in added and "192.0.2.10" not in added, added
