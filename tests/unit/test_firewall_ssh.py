"""The firewall's view of SSH, evaluated by Ansible's templating from what real hosts print: the
ports sshd listens on (ss, sshd -T, ssh.socket), the server port of Ansible's own session, and
whether UFW holds a rule for each SSH port in each address family (see role_templar)."""

from __future__ import annotations

import base64

import pytest
from role_templar import evaluate

# `ss -Hltnp` of sshd on a host without ssh.socket (Ubuntu 22.04, Debian 12 and 13), sshd_config
# with "ListenAddress 0.0.0.0:2200", as the awk of tasks/rules.yml prints it, then sshd -T.
LISTEN_ADDRESS_ONLY = """listening 2200
port 22
listenaddress 0.0.0.0:2200
"""
# Ubuntu 24.04: ssh.socket holds the socket, sshd -T fails without /run/sshd.
SOCKET_ACTIVATED = """Missing privilege separation directory: /run/sshd
Listen=[::]:22022 (Stream)
"""
# sshd listening on IPv6 only, on a port sshd -T gives only as a ListenAddress.
IPV6_LISTEN = """listening 2222
port 22
listenaddress [2001:db8::5]:2222
"""

V4_RULES = """*filter
### RULES ###

### tuple ### limit tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=71756f74652d617070
-A ufw-user-input -p tcp --dport 22 -j ufw-user-limit-accept
### tuple ### allow tcp 80 0.0.0.0/0 any 0.0.0.0/0 in comment=71756f74652d617070
### tuple ### allow tcp 2200 0.0.0.0/0 any 10.0.0.0/8 in comment=71756f74652d617070
### END RULES ###
"""
# An IPv6 kernel without ip6t_recent: ufw skipped the IPv6 "limit" rule with a warning only.
V6_RULES_WITHOUT_LIMIT = """*filter
### RULES ###

### tuple ### allow tcp 80 ::/0 any ::/0 in comment=71756f74652d617070
### END RULES ###
"""
V6_RULES = V6_RULES_WITHOUT_LIMIT.replace("### END", "### tuple ### limit tcp 22 ::/0 any ::/0 in\n### END")
INET6 = "00000000000000000000000000000001 01 80 10 80       lo\n"


def slurped(*texts: str | None) -> dict:
    """Registered results of the slurp loop in tasks/enable.yml (None: the file is missing)."""
    return {"results": [{"content": base64.b64encode(text.encode()).decode()} if text is not None
                        else {"failed": True, "msg": "file not found"} for text in texts]}


def firewall(name: str, given: dict):
    """The value of the firewall role's variable *name* with *given* (inputs and task results)."""
    return evaluate("firewall", name, **given)


@pytest.mark.parametrize(("sshd", "expected"), [
    (LISTEN_ADDRESS_ONLY, [22, 2200]),
    (SOCKET_ACTIVATED, [22022]),
    (IPV6_LISTEN, [22, 2222]),
])
def test_every_port_sshd_listens_on_is_found(sshd, expected):
    # Ansible connects over SSH to the port of its inventory: 22 unless set.
    port = {"ansible_port": 22022} if 22022 in expected else {}
    assert firewall("__firewall_ssh_ports_found", {"__firewall_sshd": {"stdout": sshd}, **port}) == expected


def test_the_server_port_of_this_very_session_is_kept_open():
    # ansible_port 2222 on the controller, forwarded to 2022 on the host (SSH_CONNECTION's last
    # field), where sshd -T could not be read: both stay open.
    found = firewall("__firewall_ssh_ports_found", {
        "ansible_port": 2222, "__firewall_sshd": {"stdout": ""},
        "__firewall_ssh_connection": {"stdout": "203.0.113.7 51514 10.0.0.5 2022"}})
    assert found == [2022, 2222]
    # Not over SSH (a local or podman connection): no session port, no ansible_port.
    assert firewall("__firewall_ssh_ports_found", {"ansible_connection": "podman", "__firewall_sshd": {"stdout": ""}}) == []


def test_without_detection_only_the_listed_ports_count():
    found = firewall("__firewall_ssh_ports_found", {
        "firewall_detect_ssh_ports": False, "firewall_ssh_ports": [2022], "__firewall_sshd": {"stdout": LISTEN_ADDRESS_ONLY}})
    assert found == [2022]


@pytest.mark.parametrize(("files", "expected"), [
    ((V4_RULES, V6_RULES, "IPV6=yes\n", INET6), []),
    ((V4_RULES, V6_RULES_WITHOUT_LIMIT, "IPV6=yes\n", INET6), ["22/IPv6"]),
    # UFW does not manage IPv6, or the host has none: IPv4 is all that counts.
    ((V4_RULES, V6_RULES_WITHOUT_LIMIT, "IPV6=no\n", INET6), []),
    ((V4_RULES, V6_RULES_WITHOUT_LIMIT, "IPV6=yes\n", None), []),
    # A rule from some sources only does not keep SSH open for everyone.
    ((V4_RULES.replace("limit tcp 22 0.0.0.0/0 any 0.0.0.0/0", "limit tcp 22 0.0.0.0/0 any 10.0.0.0/8"),
      V6_RULES, "IPV6=yes\n", INET6), ["22/IPv4"]),
])
def test_enabling_needs_a_rule_for_every_ssh_port_in_each_family(files, expected):
    found = firewall("__firewall_ssh_unruled",
                     {"__firewall_ssh_port_list": [22], "__firewall_rule_files": slurped(*files)})
    assert found == expected


def test_a_bastion_is_allowed_per_ssh_port():
    found = firewall("__firewall_ssh_from_lines", {
        "__firewall_ssh_port_list": [22, 2200], "firewall_ssh_allow_from": ["10.0.0.5", "2001:db8::/64"]})
    assert found == [
        "ufw allow from 10.0.0.5 to any port 22 proto tcp comment 'quote-app'",
        "ufw allow from 10.0.0.5 to any port 2200 proto tcp comment 'quote-app'",
        "ufw allow from 2001:db8::/64 to any port 22 proto tcp comment 'quote-app'",
        "ufw allow from 2001:db8::/64 to any port 2200 proto tcp comment 'quote-app'",
    ]
