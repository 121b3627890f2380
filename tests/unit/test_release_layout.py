"""The release layout: its paths (the release_layout filter), spelled once, and owned by quote_release."""

from __future__ import annotations

import re

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from role_templar import ROOT, evaluate, load_module, template

layout = load_module("plugins/filter/release_layout.py")

PARTS = ("releases", "venvs", "sources", "current", "previous")


def test_every_path_lies_under_the_root():
    paths = layout.release_layout("/srv/app/")
    assert paths == {"root": "/srv/app", "releases": "/srv/app/releases", "venvs": "/srv/app/venvs",
                     "sources": "/srv/app/sources", "current": "/srv/app/current", "previous": "/srv/app/previous"}


@pytest.mark.parametrize("root", ["", "/", "opt/app", None])
def test_a_root_that_is_no_absolute_directory_is_refused(root):
    with pytest.raises(AnsibleFilterError, match="absolute directory"):
        layout.release_layout(root)


def role_files():
    for path in sorted((ROOT / "roles").glob("*/*/*")):
        if path.suffix in (".yml", ".j2") and path.parent.name != "meta":
            yield path


def test_no_role_spells_a_path_of_the_layout_itself():
    """Every role reaches releases/, venvs/, sources/, current and previous through the filter."""
    spelled = re.compile(r"(\}\}|quote_app|/opt/quote-app)['\"]?\s*(~\s*['\"])?/(" + "|".join(PARTS) + r")\b")
    offenders = []
    for path in role_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.lstrip().startswith("#") and spelled.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_quote_release_creates_the_layout_and_quote_app_asks_it_to():
    tasks = yaml.safe_load((ROOT / "roles" / "quote_release" / "tasks" / "layout.yml").read_text(encoding="utf-8"))
    created = [item for task in tasks for item in task.get("loop", [task["ansible.builtin.file"]["path"]])]
    assert sorted(template("quote_release", path, quote_release_root="/opt/quote-app") for path in created) == [
        "/opt/quote-app", "/opt/quote-app/releases", "/opt/quote-app/sources", "/opt/quote-app/venvs"]
    app_tasks = yaml.safe_load((ROOT / "roles" / "quote_app" / "tasks" / "main.yml").read_text(encoding="utf-8"))
    includes = [task["ansible.builtin.include_role"] for task in app_tasks if "ansible.builtin.include_role" in task]
    assert {"name": "quote_release", "tasks_from": "layout"}.items() <= includes[0].items()


def test_the_roles_agree_on_the_layout():
    root = {"quote_app_root": "/srv/quote"}
    assert evaluate("quote_app", "__quote_app_layout", **root) == evaluate("quote_release", "__quote_release_layout",
                                                                          quote_release_root="/srv/quote")
    assert evaluate("quote_app", "quote_app_code_dir", **root) == "/srv/quote/current"
    assert evaluate("gunicorn", "gunicorn_releases_dir", **root) == "/srv/quote/releases"
