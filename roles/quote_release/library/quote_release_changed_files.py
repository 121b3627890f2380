#!/usr/bin/python
"""Which files a systemd unit reads changed after it started (module ``quote_release_changed_files``)."""

from __future__ import annotations

import os
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: quote_release_changed_files
short_description: List files modified after a systemd unit last started
description:
  - Compares the modification time of the unit's own file and of every file under the given
    paths (links followed at the top, directories walked) with the time the unit last became
    active. A unit that is not active reports C(active=false) and no files.
  - Used to restart a service only when something it reads changed since it started, so that a
    run interrupted before its restart still restarts on the next run. A link among the paths
    counts too when it was replaced after the start (the service runs what it pointed at before).
    Reads only.
options:
  unit:
    description: The unit, e.g. C(quote-app.service).
    type: str
    required: true
  paths:
    description: Files or directories the unit reads.
    type: list
    elements: path
    default: []
"""

RETURN = r"""
loaded:
  description: Whether systemd knows the unit (its file exists).
  type: bool
  returned: always
active:
  description: Whether the unit is active.
  type: bool
  returned: always

changed_files:
  description: Up to ten files modified after the unit started.
  type: list
  elements: str
  returned: always
"""


def unit_show(unit: str, *properties: str) -> dict[str, str]:
    """The unit's properties by name (systemctl prints them in its own order)."""
    out = subprocess.run(
        ["systemctl", "show", unit, *[f"--property={name}" for name in properties]],
        capture_output=True, text=True, check=True,
    ).stdout
    return dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)


def started_at(monotonic_usec: int) -> float:
    """The wall-clock time of a CLOCK_MONOTONIC timestamp in microseconds (systemd's clock)."""
    return time.time() - (time.monotonic() - monotonic_usec / 1_000_000)


def changed_after(paths: list[str], since: float, limit: int = 10) -> list[str]:
    found: list[str] = []
    for link in paths:
        # A link replaced after the start (current switched to another release) counts itself.
        if os.path.islink(link) and os.lstat(link).st_mtime > since:
            found.append(link)
        top = os.path.realpath(link)
        if not os.path.exists(top):
            continue
        candidates = [top]
        if os.path.isdir(top):
            candidates = (os.path.join(d, name) for d, dirs, files in os.walk(top) for name in dirs + files)
        for path in candidates:
            try:
                if os.lstat(path).st_mtime > since:
                    found.append(path)
            except FileNotFoundError:
                continue
            if len(found) >= limit:
                return found
    return found


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unit": {"type": "str", "required": True},
            "paths": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    try:
        shown = unit_show(module.params["unit"], "LoadState", "ActiveState", "ActiveEnterTimestampMonotonic",
                          "FragmentPath")
    except (OSError, subprocess.CalledProcessError) as error:
        module.fail_json(msg=f"cannot read {module.params['unit']} from systemd: {error}")
    state, entered = shown.get("ActiveState", ""), shown.get("ActiveEnterTimestampMonotonic", "")
    fragment = shown.get("FragmentPath", "")
    loaded = shown.get("LoadState", "") == "loaded"
    if state != "active" or not entered.isdigit() or int(entered) == 0:
        module.exit_json(changed=False, loaded=loaded, active=False, changed_files=[])
    paths = ([fragment] if fragment else []) + module.params["paths"]
    module.exit_json(changed=False, loaded=loaded, active=True,
                     changed_files=changed_after(paths, started_at(int(entered))))


if __name__ == "__main__":
    main()
