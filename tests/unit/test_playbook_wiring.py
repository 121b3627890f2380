"""How the roles are wired together, evaluated by Ansible for inventories no scenario builds:
the topology the first play works out, and the role defaults that follow it (see playbook_probe)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playbook_probe import LOCAL, ROLES, evaluate, evaluate_in_phases, plays

# What each host's wiring resolves to, printed by the debug task: name -> expression. The first
# play notes quote_address only where there are app hosts.
WIRED = {
    "quote_address": "quote_address | default('')",
    "nginx_upstream_servers": "nginx_upstream_servers",
    "gunicorn_listen_address": "gunicorn_listen_address",
    "firewall_allowed_tcp_from": "firewall_allowed_tcp_from",
    "firewall_allowed_tcp_ports": "firewall_allowed_tcp_ports",
    "quote_release_health_url": "quote_release_health_url",
    "nginx_static_dir": "nginx_static_dir",
}


def balanced_inventory(app2_address: str) -> dict:
    return {
        "all": {
            "children": {
                "quote_servers": {
                    "children": {
                        "quote_web_hosts": {"hosts": {"web1": {**LOCAL, "quote_private_address": "10.0.0.10"}}},
                        "quote_app_hosts": {
                            "hosts": {
                                "app1": {**LOCAL, "quote_private_address": "10.0.0.11"},
                                "app2": {**LOCAL, "quote_private_address": app2_address},
                            }
                        },
                    }
                }
            }
        }
    }


def wiring(tmp_path: Path, inventory: dict) -> dict[str, dict]:
    return evaluate(tmp_path, inventory, WIRED)


def test_explicit_private_addresses_wire_the_balancer_and_the_firewall(tmp_path):
    wired = wiring(tmp_path, balanced_inventory("10.0.0.12"))
    assert wired["web1"]["nginx_upstream_servers"] == ["10.0.0.11:8000", "10.0.0.12:8000"]
    assert wired["web1"]["gunicorn_listen_address"] == ""
    assert wired["web1"]["firewall_allowed_tcp_from"] == []
    assert wired["web1"]["firewall_allowed_tcp_ports"] == [80]
    assert wired["web1"]["nginx_static_dir"] == ""  # the app hosts serve their own static files
    for app, address in (("app1", "10.0.0.11"), ("app2", "10.0.0.12")):
        assert wired[app]["quote_address"] == address
        assert wired[app]["gunicorn_listen_address"] == address
        assert wired[app]["nginx_upstream_servers"] == []
        assert wired[app]["firewall_allowed_tcp_ports"] == []
        assert wired[app]["firewall_allowed_tcp_from"] == [{"source": "10.0.0.10", "port": 8000}]
        assert wired[app]["quote_release_health_url"] == f"http://{address}:8000/healthz"


@pytest.mark.parametrize("address", ["fd00::12", "2001:db8:0:1::12"])
def test_ipv6_app_address_is_bracketed_where_a_port_follows(tmp_path, address):
    wired = wiring(tmp_path, balanced_inventory(address))
    assert wired["web1"]["nginx_upstream_servers"] == ["10.0.0.11:8000", f"[{address}]:8000"]
    assert wired["app2"]["gunicorn_listen_address"] == address
    assert wired["app2"]["quote_release_health_url"] == f"http://[{address}]:8000/healthz"


def test_a_host_in_neither_child_group_runs_everything_behind_its_own_nginx(tmp_path):
    inventory = {"all": {"children": {"quote_servers": {"hosts": {"solo": LOCAL}}}}}
    wired = wiring(tmp_path, inventory)["solo"]
    assert wired["nginx_upstream_servers"] == []
    assert wired["gunicorn_listen_address"] == ""
    assert wired["firewall_allowed_tcp_from"] == []
    assert wired["firewall_allowed_tcp_ports"] == [80]
    assert wired["quote_release_health_url"] == "http://127.0.0.1:80/healthz"
    assert wired["nginx_static_dir"] == "/opt/quote-app/current/static"


# Values one role's defaults take from another's, which the inventory below changes at their source.
CROSS_ROLE = {
    "gunicorn_user": "gunicorn_user",
    "gunicorn_working_dir": "gunicorn_working_dir",
    "gunicorn_socket_group": "gunicorn_socket_group",
    "nginx_static_dir": "nginx_static_dir",
    "nginx_upstream_socket": "nginx_upstream_socket",
    "nginx_upstream_servers": "nginx_upstream_servers",
    "quote_release_root": "quote_release_root",
    "quote_release_health_url": "quote_release_health_url",
    "quote_rollout_health_url": "quote_rollout_health_url",
    "firewall_allowed_tcp_ports": "firewall_allowed_tcp_ports",
    "tls_acme_http_port": "tls_acme_http_port",
}
SOURCES = {"quote_app_name": "shop", "nginx_listen_port": 8080, "nginx_user": "web", "gunicorn_service_name": "shop"}


@pytest.mark.parametrize("inventory, hostless", [
    # A standalone host has no web host to check the app hosts from.
    ({"quote_servers": {"hosts": {"solo": LOCAL}}}, [-1]),
    (balanced_inventory("10.0.0.12"), []),
], ids=["standalone", "balanced"])
def test_each_phase_play_sees_the_wiring_the_inventory_implies(tmp_path, inventory, hostless):
    """The roles' defaults are wired to each other: a phase play that loaded only the roles it runs
    would fall back to another role's default instead of what the inventory made of it."""
    (tmp_path / "all").mkdir()
    (tmp_path / "phases").mkdir()
    expected = evaluate(tmp_path / "all", inventory, CROSS_ROLE, group_vars_all=SOURCES)
    some_host = next(iter(expected.values()))
    assert some_host["quote_release_root"] == "/opt/shop" and some_host["gunicorn_user"] == "shop"
    phases = evaluate_in_phases(tmp_path / "phases", inventory, CROSS_ROLE, group_vars_all=SOURCES)
    assert list(phases) == [play["name"] for play in plays()[2:]]
    assert [name for name, hosts in phases.items() if not hosts] == [plays()[index]["name"] for index in hostless]
    for name, hosts in phases.items():
        for host, values in hosts.items():
            assert values == expected[host], f"{name}, {host}"


def test_the_first_phase_checks_every_roles_inputs_before_any_host_changes():
    first_phase = plays()[1]
    imported = [task["ansible.builtin.import_role"] for task in first_phase["pre_tasks"]
                if "ansible.builtin.import_role" in task]
    assert sorted(role["name"] for role in imported if role.get("tasks_from") == "validate") == ROLES
    assert "serial" not in first_phase
