#!/usr/bin/python
"""Reload nginx and wait until it runs the new configuration (module ``nginx_reload``)."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: nginx_reload
short_description: Reload nginx and prove that it took the new configuration
description:
  - C(systemctl reload nginx) returns once the signal is sent, and nginx -t does not try to bind
    the listen ports: a configuration whose port another program holds passes both while nginx
    keeps serving its previous configuration (and fails at the next boot).
  - This module reloads nginx, then waits until the master has started workers of a new
    generation (a master that applies a configuration starts new workers; one that refuses it
    keeps the old ones). Without them within C(deadline) seconds it fails with the error log's
    lines written since the reload, and nginx still serves its previous configuration.
  - Does nothing in check mode.
options:
  pid_file:
    description: nginx's pid file.
    type: path
    default: /run/nginx.pid
  error_log:
    description: nginx's main error log, where a refused reload says why.
    type: path
    default: /var/log/nginx/error.log
  deadline:
    description: Seconds to wait for the new workers.
    type: float
    default: 10
  unit:
    description: The systemd unit of nginx.
    type: str
    default: nginx.service
"""

RETURN = r"""
workers:
  description: PIDs of the new generation of workers.
  type: list
  elements: int
  returned: success
seconds:
  description: Seconds from the reload to the first new worker.
  type: float
  returned: success
"""


def children(pid: int) -> set[int]:
    """PIDs of the processes whose parent is *pid*."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def master_pid(pid_file: str) -> int:
    return int(Path(pid_file).read_text().split()[0])


def log_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def log_since(path: str, offset: int) -> str:
    """The lines of *path* from byte *offset* on (all of it if the file was rotated meanwhile)."""
    try:
        with open(path, "rb") as log:
            if os.fstat(log.fileno()).st_size < offset:
                offset = 0
            log.seek(offset)
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""


def reload_and_wait(pid_file: str, error_log: str, deadline: float, unit: str) -> tuple[bool, dict]:
    """Reload *unit*; (True, {workers, seconds}) once its master has new workers, else (False,
    {msg, log})."""
    try:
        master = master_pid(pid_file)
    except (OSError, ValueError, IndexError) as error:
        return False, {"msg": f"nginx is not running ({pid_file}: {error}): nothing to reload"}
    before = children(master)
    offset = log_size(error_log)
    started = time.monotonic()
    reload = subprocess.run(["systemctl", "reload", unit], capture_output=True, text=True, check=False)
    if reload.returncode != 0:
        return False, {"msg": f"systemctl reload {unit} failed: {reload.stderr.strip()}",
                       "log": log_since(error_log, offset)}
    while time.monotonic() - started < deadline:
        new = children(master) - before
        if new:
            return True, {"workers": sorted(new), "seconds": round(time.monotonic() - started, 2)}
        time.sleep(0.05)
    log = log_since(error_log, offset)
    reasons = [line for line in log.splitlines() if re.search(r"\[(emerg|alert|crit)\]", line)]
    return False, {
        "msg": "nginx kept its previous configuration: "
               + ("; ".join(reasons) if reasons else f"no new workers within {deadline:g} s"),
        "log": log}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "pid_file": {"type": "path", "default": "/run/nginx.pid"},
            "error_log": {"type": "path", "default": "/var/log/nginx/error.log"},
            "deadline": {"type": "float", "default": 10.0},
            "unit": {"type": "str", "default": "nginx.service"},
        },
        supports_check_mode=True,
    )
    if module.check_mode:
        module.exit_json(changed=True, workers=[], seconds=0.0)
    ok, result = reload_and_wait(**module.params)
    if ok:
        module.exit_json(changed=True, **result)
    module.fail_json(**result)


if __name__ == "__main__":
    main()
