"""The platform role on hosts of several releases: a readable stop listing what is supported,
or a warning when platform_allow_unsupported says to go on. Only assert and debug tasks run
(the apt refresh is for check mode), on this machine's Python, with the facts given."""

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

FACTS = {
    "ubuntu 26.04": {"distribution": "Ubuntu", "distribution_version": "26.04", "distribution_major_version": "26",
                     "distribution_release": "resolute"},
    "debian 13.2": {"distribution": "Debian", "distribution_version": "13.2", "distribution_major_version": "13",
                    "distribution_release": "trixie"},
    "ubuntu 25.10": {"distribution": "Ubuntu", "distribution_version": "25.10", "distribution_major_version": "25",
                     "distribution_release": "questing"},
    "fedora 43": {"distribution": "Fedora", "distribution_version": "43", "distribution_major_version": "43",
                  "distribution_release": ""},
}


def check(tmp_path: Path, facts: dict, **extra: object) -> tuple[int, list[dict]]:
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "ansible.builtin.include_role": {"name": "platform", "tasks_from": "validate"},
        "vars": {"ansible_facts": facts, **extra}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play), encoding="utf-8")
    # Ansible's own defaults with the project's roles and tests, not its ansible.cfg (mitogen, the sandbox).
    (tmp_path / "ansible.cfg").write_text(
        f"[defaults]\nroles_path = {ROOT / 'roles'}\ntest_plugins = {ROOT / 'plugins' / 'test'}\n", encoding="utf-8")
    env = {**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json", "ANSIBLE_CONFIG": str(tmp_path / "ansible.cfg")}
    result = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", "-e",
                             f"ansible_python_interpreter={sys.executable}", str(tmp_path / "play.yml")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    tasks = json.loads(result.stdout)["plays"][0]["tasks"]
    return result.returncode, [task["hosts"]["localhost"] for task in tasks]


@pytest.mark.parametrize("release", ["ubuntu 26.04", "debian 13.2"])
def test_a_supported_release_passes_without_a_warning(tmp_path, release):
    returncode, results = check(tmp_path, FACTS[release])
    assert returncode == 0
    assert not any("WARNING" in str(result.get("msg", "")) for result in results)


@pytest.mark.parametrize("release", ["ubuntu 25.10", "fedora 43"])
def test_an_unsupported_release_stops_with_what_is_supported(tmp_path, release):
    returncode, results = check(tmp_path, FACTS[release])
    message = next(result["msg"] for result in results if result.get("failed"))
    assert returncode != 0
    assert f"This host runs {FACTS[release]['distribution']} {FACTS[release]['distribution_version']}" in message
    assert "Ubuntu 22.04 (jammy), Ubuntu 24.04 (noble), Ubuntu 26.04 (resolute), Debian 12 (bookworm)" in message
    assert "platform_allow_unsupported: true" in message


def test_the_opt_in_turns_the_stop_into_a_warning(tmp_path):
    returncode, results = check(tmp_path, FACTS["ubuntu 25.10"], platform_allow_unsupported=True)
    assert returncode == 0
    assert any(str(result.get("msg", "")).startswith("WARNING: This host runs Ubuntu 25.10") for result in results)
