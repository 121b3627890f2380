"""Each role's interface: argument_specs, defaults, the role's README and the example inventory say the
same thing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import role_vars_table
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def spec_options(role: str, entry: str = "main") -> dict:
    return load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"][entry]["options"]


def test_every_role_has_an_interface():
    assert ROLES == ["deploy_lock", "firewall", "gunicorn", "nginx", "platform", "quote_app", "quote_release",
                     "quote_rollout", "tls"]


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


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_is_generated_from_the_specs(role):
    readme = role_vars_table.readme_path(role).read_text(encoding="utf-8")
    assert readme == role_vars_table.render_readme(role), "run scripts/role_vars_table.py --write"


@pytest.mark.parametrize("role", ROLES)
def test_role_readme_lists_every_variable_and_entry_point(role):
    readme = role_vars_table.readme_path(role).read_text(encoding="utf-8")
    entries = load(ROOT / "roles" / role / "meta" / "argument_specs.yml")["argument_specs"]
    rows = set(re.findall(rf"^\| `({role}_[a-z0-9_]+)` \| `.*` \| .* \| (.*) \|$", readme, re.M))
    described = {(name, option["description"].replace("|", "\\|")) for entry in entries
                 for name, option in spec_options(role, entry).items()}
    assert rows == described
    assert set(re.findall(r"^\| `([a-z_]+)` \| `tasks/", readme, re.M)) == set(entries)
    # Every entry point has its tasks file.
    assert all((ROOT / "roles" / role / "tasks" / f"{entry}.yml").exists() for entry in entries)


def test_role_readmes_name_the_outputs_the_playbook_reads():
    outputs = {role: {name for name, _ in role_vars_table.outputs(role)}
               | {name for name, _, _ in role_vars_table.facts(role)} for role in ROLES}
    assert outputs["gunicorn"] == {"gunicorn_release_settings"}
    assert outputs["quote_app"] == {"quote_app_release_id"}
    assert outputs["tls"] == {"tls_certificate_file", "tls_certificate_key_file"}
    for role, names in outputs.items():
        readme = role_vars_table.readme_path(role).read_text(encoding="utf-8")
        assert ("## Outputs" in readme) == bool(names), role
        assert all(f"| `{name}` |" in readme for name in names), role


def test_docs_link_every_role_readme():
    docs = (ROOT / "docs" / "roles.md").read_text(encoding="utf-8")
    for role in ROLES:
        assert f"(../roles/{role}/README.md)" in docs, role


@pytest.mark.parametrize("role", ROLES)
def test_example_inventory_lists_every_variable(role):
    sample = role_vars_table.sample_path(role).read_text(encoding="utf-8")
    assert sample == role_vars_table.render_sample(role), "run scripts/role_vars_table.py --write"
    assert set(re.findall(rf"^# ({role}_[a-z0-9_]+):", sample, re.M)) == set(spec_options(role))


def test_wiring_in_the_defaults_names_known_variables():
    """A role's default that follows another role's variable (gunicorn_user follows quote_app_user)
    names one that exists: an option of that role, one of its outputs, or a fact of the play."""
    known = {name for role in ROLES for name in spec_options(role)}
    # A role's outputs: the names in its vars/main.yml without the private "__" prefix.
    outputs = {name for role in ROLES for name in load(ROOT / "roles" / role / "vars" / "main.yml")
               if not name.startswith("__")}
    assert outputs == {"tls_certificate_file", "tls_certificate_key_file", "gunicorn_release_settings"}
    known |= outputs | {"quote_app_release_id"}
    prefixes = tuple(f"{role}_" for role in ROLES)
    followed = []
    for role in ROLES:
        for name, value in load(ROOT / "roles" / role / "defaults" / "main.yml").items():
            for other in re.findall(r"\b([a-z]+_[a-z0-9_]+)\b", str(value)):
                if other.startswith(prefixes) and not other.startswith(f"{role}_"):
                    assert other in known, (role, name, other)
                    followed.append(other)
    assert len(followed) > 20  # the roles are wired in their defaults
