"""Every variable an operator may set takes effect from the inventory, even from its weakest
level (group_vars/all): the roles are wired together in their defaults, which the inventory
outranks, and the playbook sets no role variable itself."""

from __future__ import annotations

import yaml
from playbook_probe import LOCAL, ROLES, ROOT, evaluate


def options() -> dict[str, dict]:
    found = {}
    for role in ROLES:
        specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
        found.update(specs["argument_specs"]["main"]["options"])
    return found


def sentinel(name: str, option: dict) -> object:
    """A value of the option's type that no default has."""
    kind = option["type"]
    if kind == "bool":
        return not bool(option.get("default"))
    if kind == "int":
        return 4321
    if kind == "list":
        return [{"set": name}] if option.get("elements") == "dict" else [f"inventory-{name}"]
    if kind == "dict":
        return {"SET": name}
    if kind == "path":
        return f"/inventory/{name}"
    return f"inventory-{name}"


def test_every_role_variable_set_in_group_vars_all_reaches_the_roles(tmp_path):
    wanted = {name: sentinel(name, option) for name, option in options().items()}
    inventory = {"quote_servers": {"hosts": {"solo": LOCAL}}}
    seen = evaluate(tmp_path, inventory, {name: name for name in wanted}, group_vars_all=wanted)["solo"]
    lost = {name: seen[name] for name in wanted if seen[name] != wanted[name]}
    assert not lost, f"set in group_vars/all but overridden: {lost}"
    assert len(wanted) > 100  # every role's variables were probed


def test_the_playbook_sets_no_role_variable():
    """Play variables outrank the inventory: no play sets one (the rollout's own helpers live in
    the quote_rollout role)."""
    plays = yaml.safe_load((ROOT / "playbook.yml").read_text(encoding="utf-8"))
    assert [play["name"] for play in plays if play.get("vars")] == []
