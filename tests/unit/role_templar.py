"""A role's variables as Ansible's own templating evaluates them, in this process and in
milliseconds: the role's defaults, then its vars (their templates trusted, as Ansible loads them),
then the values a test gives, which stand for the inventory and for what tasks registered."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import init_plugin_loader
from ansible.template import Templar, trust_as_template
from ansible.utils.collection_loader import AnsibleCollectionConfig

ROOT = Path(__file__).resolve().parents[2]
LOADER = DataLoader()
if AnsibleCollectionConfig.collection_finder is None:  # as ansible's CLI does, once per process
    init_plugin_loader()


@functools.cache
def role_variables(role: str) -> dict[str, Any]:
    """*role*'s defaults, then its vars, as Ansible loads them."""
    variables: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        variables.update(LOADER.load_from_file(str(ROOT / "roles" / role / part / "main.yml"),
                                               trusted_as_template=True) or {})
    return variables


def template(role: str, text: str, **values: Any) -> Any:
    """*text* (a template, as a task's argument is) templated for *role*, with *values* over its
    defaults and vars."""
    variables = {"inventory_hostname": "web1", **role_variables(role), **values}
    return Templar(loader=LOADER, variables=variables).template(trust_as_template(text))


def evaluate(role: str, expression: str, **values: Any) -> Any:
    """The value of the Jinja *expression* for *role*, with *values* over its defaults and vars."""
    return template(role, "{{ " + expression + " }}", **values)


def load_module(relative: str) -> ModuleType:
    """The project's Python file at *relative* (a plugin, a role's module), imported by its path."""
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROOT / relative)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
