#!/usr/bin/python
"""Ask an app server for a list of pages within one deadline (module ``gunicorn_probe``)."""

from __future__ import annotations

import http.client
import socket
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: gunicorn_probe
short_description: Ask an app server for pages until each answers as expected or a deadline passes
description:
  - Sends C(GET) requests over a unix socket and checks each answer's status.
  - A request that gets no answer (the server is still starting) is retried until the deadline;
    an answer with another status fails at once, as does a watched systemd unit that failed.
  - With C(unit), the unit must also be active by the deadline: a server that answers but never
    tells systemd it is ready (Type=notify) would fail its start as the live service.
  - Reads only; check mode runs it as usual.
options:
  unix_socket:
    description: Path of the unix socket the app server listens on.
    type: path
    required: true
  probes:
    description: Requests to send, in order, each a C(path) and the C(status) expected.
    type: list
    elements: dict
    required: true
  deadline:
    description: Seconds all probes together may take.
    type: float
    default: 20
  timeout:
    description: Seconds one request may take.
    type: float
    default: 3
  unit:
    description: A systemd unit whose failure ends the wait early (the server's service).
    type: str
"""

RETURN = r"""
results:
  description: One entry per probe that was tried, with C(path), C(expected), C(status) (0 when nothing answered), C(error) and C(seconds).
  type: list
  elements: dict
  returned: always
seconds:
  description: Seconds the whole check took.
  type: float
  returned: always
"""


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket; the Host header stays "localhost"."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def get(path: str, unix_socket: str, timeout: float) -> tuple[int, str]:
    """(status, "") for an answer, or (0, why) when none came."""
    connection = UnixHTTPConnection(unix_socket, timeout)
    try:
        connection.request("GET", path, headers={"User-Agent": "gunicorn_probe"})
        response = connection.getresponse()
        response.read()
        return response.status, ""
    except (OSError, http.client.HTTPException) as error:
        return 0, f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    finally:
        connection.close()


def unit_state(unit: str | None) -> str:
    """The unit's ActiveState ("active", "activating", "failed", ...), or "" without a unit."""
    if not unit:
        return ""
    return subprocess.run(
        ["systemctl", "show", "--property=ActiveState", "--value", unit], capture_output=True, text=True, check=False
    ).stdout.strip()


def probe(params: dict, clock=time.monotonic, sleep=time.sleep) -> tuple[list[dict], str]:
    """Run the probes; return the results and an empty string, or the reason they failed."""
    start = clock()
    results: list[dict] = []
    for item in params["probes"]:
        path, expected = str(item["path"]), int(item["status"])
        while True:
            remaining = params["deadline"] - (clock() - start)
            status, error = get(path, params["unix_socket"], max(0.1, min(params["timeout"], remaining)))
            entry = {"path": path, "expected": expected, "status": status, "error": error,
                     "seconds": round(clock() - start, 2)}
            if status:
                results.append(entry)
                if status != expected:
                    return results, f"GET {path} answered {status}, expected {expected}"
                break
            if unit_state(params.get("unit")) == "failed":
                results.append(entry)
                return results, f"GET {path} got no answer ({error}) and {params['unit']} failed"
            if clock() - start >= params["deadline"]:
                results.append(entry)
                return results, f"GET {path} got no answer within {params['deadline']:g} s ({error})"
            sleep(0.25)
    while params.get("unit") and (state := unit_state(params["unit"])) != "active":
        if state == "failed" or clock() - start >= params["deadline"]:
            return results, (f"every page answered, but {params['unit']} is {state or 'gone'}, not active: "
                             "it never told systemd it was ready")
        sleep(0.25)
    return results, ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "unix_socket": {"type": "path", "required": True},
            "probes": {"type": "list", "elements": "dict", "required": True},
            "deadline": {"type": "float", "default": 20},
            "timeout": {"type": "float", "default": 3},
            "unit": {"type": "str"},
        },
        supports_check_mode=True,
    )
    for item in module.params["probes"]:
        if not str(item.get("path", "")).startswith("/") or not str(item.get("status", "")).isdigit():
            module.fail_json(msg=f"every probe needs a path starting with / and a status, got {item}")
    start = time.monotonic()
    results, failure = probe(module.params)
    seconds = round(time.monotonic() - start, 2)
    if failure:
        module.fail_json(msg=failure, results=results, seconds=seconds)
    module.exit_json(changed=False, results=results, seconds=seconds)


if __name__ == "__main__":
    main()
