#!/usr/bin/python
"""Wait until a URL reports a release, or until its service fails (module ``quote_release_health``)."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: quote_release_health
short_description: Wait until a health URL reports the expected release
description:
  - Asks C(url) about twice a second until it answers 200 and, when the answer is a JSON object
    with a C(release) field (such as the quote app's /healthz), that field is C(release); for at
    most C(deadline) seconds. An app whose health check says nothing of its release passes with
    any 200 answer: after a restart only the new release can give it.
  - Stops early when C(unit), which must be active when the wait starts (just restarted), stops
    being active or is restarted by systemd (a release that crashes once served), so that a
    rollback starts while requests still wait in the socket's backlog.
  - Reads only; check mode runs it as usual.
options:
  url:
    description: The health URL.
    type: str
    required: true
  host:
    description: Host header to send.
    type: str
  release:
    description: The release the answer must name.
    type: str
    required: true
  deadline:
    description: Seconds to wait in all.
    type: float
    default: 20
  timeout:
    description: Seconds one request may take.
    type: float
    default: 3
  unit:
    description: The service behind the URL, watched for failures and restarts.
    type: str
"""

RETURN = r"""
status:
  description: HTTP status of the last answer, 0 if none came.
  type: int
  returned: always
answered:
  description: The release the last answer named, or an empty string.
  type: str
  returned: always
seconds:
  description: Seconds the check took.
  type: float
  returned: always
"""


def ask(url: str, host: str | None, timeout: float) -> tuple[int, str | None, str]:
    """(status, release named or None when the answer names none, error) of one GET."""
    request = urllib.request.Request(url, headers={"Host": host} if host else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
            status = reply.status
    except urllib.error.HTTPError as error:
        return error.code, None, f"HTTP {error.code}"
    except OSError as error:
        return 0, None, str(getattr(error, "reason", error))
    try:
        answer = json.loads(body)
    except ValueError:
        return status, None, ""
    return status, str(answer["release"]) if isinstance(answer, dict) and "release" in answer else None, ""


def unit_status(unit: str | None) -> tuple[str, int]:
    """The unit's ActiveState and how often systemd restarted it by itself (NRestarts)."""
    if not unit:
        return "active", 0
    out = subprocess.run(["systemctl", "show", unit, "--property=ActiveState", "--property=NRestarts"],
                         capture_output=True, text=True, check=False).stdout
    shown = dict(line.partition("=")[::2] for line in out.splitlines())
    restarts = shown.get("NRestarts", "0")
    return shown.get("ActiveState", "active"), int(restarts) if restarts.isdigit() else 0


def wait(params: dict, clock=time.monotonic, sleep=time.sleep, status_of=unit_status) -> tuple[dict, str]:
    """Ask until the answer names the release; return the last result and "" or why it failed."""
    start = clock()
    # Older systemd versions keep counting restarts across a manual restart: only new ones count.
    _, restarts_before = status_of(params.get("unit"))
    while True:
        # The service is asked first: a request to a crashed one would only wait in its backlog.
        state, restarts = status_of(params.get("unit"))
        problem = (f"{params.get('unit')} stopped running ({state})" if state != "active"
                   else f"{params.get('unit')} crashed and was restarted by systemd" if restarts > restarts_before
                   else "")
        remaining = params["deadline"] - (clock() - start)
        status, answered, error = (0, None, "not asked") if problem else ask(
            params["url"], params.get("host"), max(0.1, min(params["timeout"], remaining)))
        result = {"status": status, "answered": answered or "", "seconds": round(clock() - start, 2)}
        if status == 200 and answered in (None, params["release"]):
            return result, ""
        if problem:
            return result, problem
        seen = f"HTTP {status}, release {answered or 'none'}" if status else f"no answer ({error})"
        if result["seconds"] >= params["deadline"]:
            return result, (f"{params['url']} did not report release {params['release']} "
                            f"within {params['deadline']:g} s (last: {seen})")
        sleep(0.5)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "host": {"type": "str"},
            "release": {"type": "str", "required": True},
            "deadline": {"type": "float", "default": 20},
            "timeout": {"type": "float", "default": 3},
            "unit": {"type": "str"},
        },
        supports_check_mode=True,
    )
    result, failure = wait(module.params)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
