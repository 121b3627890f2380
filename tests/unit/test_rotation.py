"""The rolling deploy's edits of a web host's upstream (the nginx role's rotation entry point) and
where an app host rejoins it (quote_rollout's rejoin), evaluated by Ansible's own templating.

The rotation's line edit is applied as the replace module applies it (Python's re.sub over the
file, multi-line), to the site the template renders: a server renamed to its new address and
port gives, line for line, the site the template renders with the new upstream, so the next run
changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from role_templar import ROOT, evaluate, template
from test_site_template import site

OLD = ["10.0.0.11:8000", "[fd00::12]:8000"]
NEW = ["10.0.0.11:8001", "[fd00::12]:8001"]


def rotation_task() -> dict[str, Any]:
    tasks = yaml.safe_load((ROOT / "roles" / "nginx" / "tasks" / "rotation.yml").read_text(encoding="utf-8"))
    return next(task for task in tasks if "ansible.builtin.replace" in task)


def rotate(config: str, out: list[str] = (), into: list[str] = (), renames: dict[str, str] | None = None) -> str:
    """*config* after the rotation's replace task, for each item of its loop."""
    task = rotation_task()
    values = {"nginx_rotation_out": list(out), "nginx_rotation_in": list(into), "nginx_rotation_renames": renames or {}}
    for item in template("nginx", task["loop"], **values):
        module = {key: template("nginx", task["ansible.builtin.replace"][key], item=item, **values)
                  for key in ("regexp", "replace")}
        config = re.compile(module["regexp"], re.MULTILINE).sub(module["replace"], config)
    return config


def test_a_server_out_of_rotation_is_marked_down_and_back_in_unmarked():
    config = site(balanced=True, nginx_upstream_servers=OLD)
    out = rotate(config, out=[OLD[0]])
    assert f"server {OLD[0]} max_fails=1 fail_timeout=10s down;" in out
    assert f"server {OLD[1]} max_fails=1 fail_timeout=10s;" in out
    assert rotate(out, into=[OLD[0]]) == config


@pytest.mark.parametrize("moved", [0, 1], ids=["ipv4", "ipv6"])
def test_a_server_back_under_a_new_port_is_what_the_template_renders_with_it(moved):
    config = site(balanced=True, nginx_upstream_servers=OLD)
    out = rotate(config, out=[OLD[moved]])
    back = rotate(out, into=[OLD[moved]], renames={OLD[moved]: NEW[moved]})
    upstream = list(OLD)
    upstream[moved] = NEW[moved]
    assert back == site(balanced=True, nginx_upstream_servers=upstream)
    assert rotate(rotate(config, into=OLD, renames=dict(zip(OLD, NEW))), into=NEW) == site(
        balanced=True, nginx_upstream_servers=NEW)


REJOIN = {"quote_rollout_endpoint": NEW[0], "quote_rollout_serving_endpoint": OLD[0]}


@pytest.mark.parametrize(
    ("new_status", "old_status", "expected"),
    [(200, 0, NEW[0]), (0, 200, OLD[0]), (0, 0, ""), (200, 200, NEW[0])],
    ids=["serves on the new port", "still on the old port", "serves nowhere", "both"],
)
def test_an_app_host_rejoins_where_it_serves(new_status, old_status, expected):
    assert evaluate("quote_rollout", "__quote_rollout_rejoins_as", **REJOIN,
                    __quote_rollout_serving_after={"status": new_status},
                    __quote_rollout_serving_before={"status": old_status}) == expected
    assert evaluate("quote_rollout", "__quote_rollout_moves", **REJOIN) is True


def test_a_move_takes_the_host_out_even_when_its_release_stays():
    values = {**REJOIN, "quote_rollout_release": "v2-abc", "quote_rollout_app_hosts": ["app1", "app2"],
              "ansible_play_batch": ["app1"], "__quote_rollout_serving": {"json": {"release": "v2-abc"}}}
    assert evaluate("quote_rollout", "__quote_rollout_changes", **values) is True
    assert evaluate("quote_rollout", "__quote_rollout_changes",
                    **{**values, "quote_rollout_serving_endpoint": NEW[0]}) is False
