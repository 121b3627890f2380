"""The play's wiring between the roles, evaluated by Ansible for inventories no scenario builds.

playbook.yml's first play (which notes each host's private address) runs as it is; then its
second play's variables, over every role's defaults, are printed with `debug` for each host.
Nothing else runs: the hosts use the local connection, and the only task that would read this
machine (fact gathering for the addresses) is skipped because every host sets
quote_private_address, which is what this test is about.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

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
# Every host of these inventories: Ansible on this machine, for debug tasks only.
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


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
    """Run the address play and print WIRED for every host; return {host: {variable: value}}."""
    plays = yaml.safe_load((ROOT / "playbook.yml").read_text(encoding="utf-8"))
    address_play, main_play = plays[0], plays[1]
    # The roles' defaults go where they rank below the play's variables, as in a real run.
    defaults: dict = {}
    for path in sorted((ROOT / "roles").glob("*/defaults/main.yml")):
        defaults.update(yaml.safe_load(path.read_text(encoding="utf-8")))
    inventory = {"all": {**inventory["all"], "vars": defaults}}
    probe = {
        "name": "Print the wiring",
        "hosts": "quote_servers",
        "gather_facts": False,
        "vars": main_play["vars"],
        "tasks": [{"name": "Print the wired values", "ansible.builtin.debug": {"msg": {name: f"{{{{ {expr} }}}}" for name, expr in WIRED.items()}}}],
    }
    (tmp_path / "play.yml").write_text(yaml.safe_dump([address_play, probe], sort_keys=False), encoding="utf-8")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    # Ansible's own defaults, not the project's ansible.cfg (mitogen, the sandbox inventory).
    (tmp_path / "ansible.cfg").write_text("[defaults]\nretry_files_enabled = False\n", encoding="utf-8")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    result = subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = json.loads(result.stdout)
    network_task = output["plays"][0]["tasks"][0]
    assert all(host.get("skipped") for host in network_task["hosts"].values()), "facts were gathered"
    return {host: outcome["msg"] for host, outcome in output["plays"][1]["tasks"][0]["hosts"].items()}


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
