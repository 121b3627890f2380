"""The quote_topology filter: who runs what, and how the hosts reach each other."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError
from role_templar import ROOT, load_module

topology = load_module("plugins/filter/quote_topology.py")

BALANCED = {"quote_servers": ["web1", "app1", "app2"], "quote_web_hosts": ["web1"],
            "quote_app_hosts": ["app1", "app2"]}


def hostvars(**addresses: str) -> dict:
    return {name: {"quote_address": address} for name, address in addresses.items()}


def test_a_host_in_neither_child_group_runs_everything():
    solo = topology.quote_topology("solo", {"quote_servers": ["solo"]}, {})
    assert solo == {"web": True, "app": True, "balanced_app": False, "app_address": "", "app_endpoint": "",
                    "app_endpoints": [], "app_serving_endpoint": "", "app_serving_endpoints": [],
                    "upstream_servers": [], "web_addresses": [], "web_hosts": [], "app_hosts": []}


def test_web_hosts_balance_over_the_app_hosts_which_admit_the_web_hosts():
    addresses = hostvars(web1="10.0.0.10", app1="10.0.0.11", app2="fd00::12")
    web = topology.quote_topology("web1", BALANCED, addresses, 8000)
    app2 = topology.quote_topology("app2", BALANCED, addresses, 8000)
    assert (web["web"], web["app"], web["balanced_app"]) == (True, False, False)
    assert web["upstream_servers"] == ["10.0.0.11:8000", "[fd00::12]:8000"]
    assert (app2["web"], app2["app"], app2["balanced_app"]) == (False, True, True)
    assert (app2["app_address"], app2["app_endpoint"]) == ("fd00::12", "[fd00::12]:8000")
    assert app2["upstream_servers"] == [] and app2["web_addresses"] == ["10.0.0.10"]
    assert app2["app_endpoints"] == web["upstream_servers"]


@pytest.mark.parametrize("groups, web, app", [
    ({"quote_servers": ["a", "b"]}, ["a", "b"], ["a", "b"]),
    # The child groups' order first: the web hosts know every app host before one leaves.
    ({"quote_servers": ["app2", "web1", "app1"], "quote_web_hosts": ["web1"], "quote_app_hosts": ["app1", "app2"]},
     ["web1"], ["app1", "app2"]),
    # A host of quote_servers in neither child group runs both, after the child groups' hosts.
    ({"quote_servers": ["solo", "web1", "app1"], "quote_web_hosts": ["web1"], "quote_app_hosts": ["app1"]},
     ["web1", "solo"], ["app1", "solo"]),
])
def test_each_phase_runs_on_the_hosts_the_topology_gives_it(groups, web, app):
    assert topology.quote_phase_hosts(groups, "web") == web
    assert topology.quote_phase_hosts(groups, "app") == app
    for host in groups["quote_servers"]:
        addresses = hostvars(**{name: "10.0.0.1" for name in groups["quote_servers"]})
        roles = topology.quote_topology(host, groups, addresses)
        assert (roles["web"], roles["app"]) == (host in web, host in app)


def test_a_phase_is_web_or_app():
    with pytest.raises(AnsibleFilterError, match="web or app, got 'firewall'"):
        topology.quote_phase_hosts(BALANCED, "firewall")


def test_each_app_host_has_its_own_port():
    addresses = hostvars(web1="10.0.0.10", app1="10.0.0.11", app2="10.0.0.12")
    addresses["app2"]["quote_port"] = 9000
    web = topology.quote_topology("web1", BALANCED, addresses, 8000)
    assert web["app_endpoints"] == ["10.0.0.11:8000", "10.0.0.12:9000"]


def test_web_hosts_balance_over_where_the_app_hosts_serve_now_while_their_port_changes():
    """app1 serves on 8000 and moves to 8001; app2 serves nowhere yet; the web host keeps sending
    to 8000 until the rollout renames app1 in its upstream."""
    addresses = hostvars(web1="10.0.0.10", app1="10.0.0.11", app2="fd00::12")
    for name in ("app1", "app2"):
        addresses[name]["quote_port"] = 8001
    addresses["app1"]["quote_serving_endpoint"] = "10.0.0.11:8000"
    addresses["app2"]["quote_serving_endpoint"] = ""
    web = topology.quote_topology("web1", BALANCED, addresses, 8000)
    app1 = topology.quote_topology("app1", BALANCED, addresses, 8000)
    assert web["upstream_servers"] == ["10.0.0.11:8000", "[fd00::12]:8001"]
    assert web["app_endpoints"] == ["10.0.0.11:8001", "[fd00::12]:8001"]
    assert (app1["app_endpoint"], app1["app_serving_endpoint"]) == ("10.0.0.11:8001", "10.0.0.11:8000")
    assert app1["app_serving_endpoints"] == web["upstream_servers"]
    assert web["app_serving_endpoint"] == ""


@pytest.mark.parametrize("listening", ["0.0.0.0:8000", "[::]:8000"])
def test_an_app_socket_on_every_address_is_reached_at_the_hosts_address(listening):
    addresses = hostvars(web1="10.0.0.10", app1="10.0.0.11", app2="fd00::12")
    addresses["app1"]["quote_serving_endpoint"] = listening
    addresses["app2"]["quote_serving_endpoint"] = listening
    web = topology.quote_topology("web1", BALANCED, addresses, 8001)
    assert web["upstream_servers"] == ["10.0.0.11:8000", "[fd00::12]:8000"]


@pytest.mark.parametrize(
    ("groups", "addresses", "message"),
    [
        ({"quote_servers": ["web1"], "quote_web_hosts": ["web1"]}, {}, "go together"),
        ({**BALANCED, "quote_servers": ["web1", "app1"]}, hostvars(web1="a", app1="b", app2="c"),
         "app2 not in quote_servers"),
        (BALANCED, hostvars(web1="10.0.0.10", app1="10.0.0.11"), "app2 needs an address"),
    ],
    ids=["web without app hosts", "app host outside quote_servers", "app host without an address"],
)
def test_a_broken_topology_names_the_rule(groups, addresses, message):
    with pytest.raises(AnsibleFilterError, match=message):
        topology.quote_topology("web1", groups, addresses)


def test_the_first_plays_fallback_port_is_the_gunicorn_roles_default():
    """The first play runs before the gunicorn role is loaded, so it names the role's default port."""
    import yaml

    default = yaml.safe_load((ROOT / "roles" / "gunicorn" / "defaults" / "main.yml").read_text(encoding="utf-8"))
    playbook = (ROOT / "playbook.yml").read_text(encoding="utf-8")
    assert f"gunicorn_listen_port | default({default['gunicorn_listen_port']})" in playbook
