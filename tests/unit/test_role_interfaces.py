"""Each role's interface: argument_specs, defaults and the README table say the same thing."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import role_vars_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def spec_options(role: str, entry: str = "main") -> dict:
    return load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"][entry]["options"]


def test_every_role_has_an_interface():
    assert ROLES == ["deploy_lock", "firewall", "gunicorn", "nginx", "platform", "quote_app", "quote_release", "tls"]


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_specs_name_the_same_variables(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    assert set(defaults) == set(spec_options(role))


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_match_defaults_file(role):
    defaults = load(ROOT / "roles" / role / "defaults" / "main.yml")
    for name, option in spec_options(role).items():
        assert option.get("default") == defaults[name], name


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    assert all(name.startswith(role + "_") for name in spec_options(role))


@pytest.mark.parametrize("role", ROLES)
def test_every_default_has_a_comment_above_it(role):
    lines = (ROOT / "roles" / role / "defaults" / "main.yml").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"^[a-z0-9_]+:", line):
            assert lines[number - 1].startswith("# "), f"{role}: {line} has no comment"


@pytest.mark.parametrize("role", ROLES)
def test_every_option_is_typed_and_described(role):
    for name, option in spec_options(role).items():
        assert option.get("type"), name
        assert option.get("description"), name


@pytest.mark.parametrize("role", ROLES)
def test_validate_entry_point_checks_the_same_options(role):
    assert spec_options(role, "validate") == spec_options(role, "main")


def test_readme_variable_tables_match_the_specs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert role_vars_table.render() in readme, "run scripts/role_vars_table.py --write"


@pytest.mark.parametrize("role", ROLES)
def test_example_inventory_lists_every_variable(role):
    sample = role_vars_table.sample_path(role).read_text(encoding="utf-8")
    assert sample == role_vars_table.render_sample(role), "run scripts/role_vars_table.py --write"
    assert set(re.findall(rf"^# ({role}_[a-z0-9_]+):", sample, re.M)) == set(spec_options(role))


def test_playbook_wiring_names_known_variables():
    play = next(play for play in yaml.safe_load((ROOT / "playbook.yml").read_text(encoding="utf-8")) if "vars" in play)
    known = {name for role in ROLES for name in spec_options(role)}
    # A role's outputs: the names in its vars/main.yml without the private "__" prefix.
    outputs = {name for role in ROLES for name in load(ROOT / "roles" / role / "vars" / "main.yml")
               if not name.startswith("__")}
    assert outputs == {"tls_certificate_file", "tls_certificate_key_file", "gunicorn_release_settings"}
    # Facts a role sets for the play: the release it builds.
    known |= {"quote_app_release_id"}
    known |= outputs
    # The host-group wiring also reads the private address the first play notes, and filters.
    known |= {"quote_address", "inventory_hostname", "regex_replace", "dict_kv"}
    for target, source in play["vars"].items():
        if target.startswith("__"):  # the play's own helpers
            continue
        assert target in known, target
        assert set(re.findall(r"\b([a-z]+_[a-z_]+)\b", str(source))) <= known, source
