"""Evaluate variables the way a run of playbook.yml would, without touching any host.

The playbook's first play (who runs what, and the hosts' addresses) runs as it is; then a probe
play imports every role's defaults entry point (no task), so that their defaults count as in a
real run, and prints the expressions asked for (evaluate). evaluate_in_phases prints them instead
in each phase play, as its own hosts and pre_tasks see them. The hosts use the local connection:
the first play's read of systemd (where an app socket listens now) is left out, and the only
other task that could read this machine (gathering network facts) is skipped when every host of
a balanced inventory sets quote_private_address.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
ROLES = sorted(p.parents[1].name for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
# Every host of a probe inventory: Ansible on this machine, for set_fact and debug only.
LOCAL = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


def plays() -> list[dict]:
    return yaml.safe_load((ROOT / "playbook.yml").read_text(encoding="utf-8"))


def printing(expressions: dict[str, str]) -> dict:
    return {"name": "Print the values",
            "ansible.builtin.debug": {"msg": {name: f"{{{{ {expr} }}}}" for name, expr in expressions.items()}}}


def evaluate(tmp_path: Path, inventory: dict, expressions: dict[str, str],
             group_vars_all: dict | None = None) -> dict[str, dict]:
    """{host: {name: value of expressions[name]}} for every host of quote_servers, with every
    role's defaults loaded."""
    probe = {
        "name": "Print the values",
        "hosts": "quote_servers",
        "gather_facts": False,
        "tasks": [{"name": f"Load {role}'s defaults",
                   "ansible.builtin.import_role": {"name": role, "tasks_from": "defaults"}}
                  for role in ROLES] + [printing(expressions)],
    }
    return run(tmp_path, inventory, [probe], group_vars_all)[0]


def evaluate_in_phases(tmp_path: Path, inventory: dict, expressions: dict[str, str],
                       group_vars_all: dict | None = None) -> dict[str, dict[str, dict]]:
    """{play name: {host: {name: value}}} for each play of playbook.yml after the first two (the
    phases that deploy, and the last check), run with its own hosts and pre_tasks but its tasks
    replaced by printing the expressions."""
    probes = [{"name": play["name"], "hosts": play["hosts"], "gather_facts": False,
               "pre_tasks": play.get("pre_tasks", []), "tasks": [printing(expressions)]} for play in plays()[2:]]
    return dict(zip((play["name"] for play in probes), run(tmp_path, inventory, probes, group_vars_all), strict=True))


def run(tmp_path: Path, inventory: dict, probes: list[dict], group_vars_all: dict | None = None) -> list[dict]:
    """Run the first play of playbook.yml and then *probes*; each probe's last task's msg per host."""
    topology_play = plays()[0]
    topology_play["tasks"] = [task for task in topology_play["tasks"] if "ansible.builtin.systemd_service" not in task]
    (tmp_path / "play.yml").write_text(yaml.safe_dump([topology_play, *probes], sort_keys=False), encoding="utf-8")
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory), encoding="utf-8")
    if group_vars_all is not None:
        (tmp_path / "group_vars").mkdir(exist_ok=True)
        (tmp_path / "group_vars" / "all.yml").write_text(yaml.safe_dump(group_vars_all), encoding="utf-8")
    # Ansible's own defaults with the project's roles and plugins, not its ansible.cfg (mitogen, sandbox).
    (tmp_path / "ansible.cfg").write_text(
        f"[defaults]\nretry_files_enabled = False\nroles_path = {ROOT / 'roles'}\n"
        f"filter_plugins = {ROOT / 'plugins' / 'filter'}\ntest_plugins = {ROOT / 'plugins' / 'test'}\n",
        encoding="utf-8")
    env = {**os.environ, "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    result = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = json.loads(result.stdout)
    network_task = output["plays"][0]["tasks"][0]
    assert all(host.get("skipped") for host in network_task["hosts"].values()), "facts were gathered"
    # A play whose hosts pattern matches no host prints nothing.
    return [{host: outcome["msg"] for host, outcome in play["tasks"][-1]["hosts"].items()} if play["tasks"] else {}
            for play in output["plays"][1:]]
