"""Helpers and fixtures shared by every scenario's testinfra tests.

The hosts are the scenario's containers, reached with testinfra's podman backend (much faster
than its ansible backend). HTTP checks go from this machine to the ports the containers
publish on 127.0.0.1, so they pass through the host's firewall like real traffic.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parents[3]
SITE_ACCESS_LOG = "/var/log/nginx/quote-app.access.log"
SITE_ERROR_LOG = "/var/log/nginx/quote-app.error.log"


def molecule_hosts(group: str = "quote_servers") -> list[str]:
    """Return podman:// host specs for the members of *group* in molecule's inventory."""
    inventory_file = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory_file:
        raise RuntimeError("MOLECULE_INVENTORY_FILE is not set: run these tests through molecule verify")
    inventory = yaml.safe_load(Path(inventory_file).read_text(encoding="utf-8"))
    # Molecule writes groups at the top level; a hand-written inventory nests them in "all".
    section = inventory.get(group) or inventory["all"].get("children", {}).get(group)
    if not section or not section.get("hosts"):
        raise RuntimeError(f"no hosts in group {group} of {inventory_file}")
    members = section["hosts"]
    return [f"podman://{name}" for name in sorted(members)]


def published_port(container: str, port: int) -> int:
    """The loopback port on this machine that podman publishes *port*/tcp of *container* on."""
    out = subprocess.run(
        ["podman", "port", container, f"{port}/tcp"], check=True, capture_output=True, text=True
    ).stdout.split()
    if not out:
        raise AssertionError(f"{container} publishes no port for {port}/tcp")
    address, _, host_port = out[0].rpartition(":")
    assert address == "127.0.0.1", f"{container} publishes {port} on {address}, not on loopback"
    return int(host_port)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> object:
        return json.loads(self.body)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # noqa: ANN002,ANN003
        return None


def http_get(url: str, timeout: float = 10.0, headers: dict[str, str] | None = None,
             follow: bool = True) -> Response:
    """GET *url* without raising on HTTP error statuses; with follow=False a redirect is the answer."""
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as reply:
            return Response(reply.status, {k.lower(): v for k, v in reply.headers.items()},
                            reply.read().decode("utf-8"))
    except urllib.error.HTTPError as error:
        return Response(error.code, {k.lower(): v for k, v in error.headers.items()},
                        error.read().decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def site_url(host) -> str:
    """Base URL of the site as seen from this machine."""
    return f"http://127.0.0.1:{published_port(host.backend.name, 80)}"


@pytest.fixture(scope="session")
def bundled_quotes() -> list[dict[str, object]]:
    return json.loads((PROJECT_DIR / "files" / "app" / "quotes.json").read_text(encoding="utf-8"))


def playbook_invocation(*args: str, inventory: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of a run of the project's playbook against this
    scenario's hosts (or *inventory*), as molecule's converge runs it."""
    env = dict(os.environ)
    ephemeral = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
    env["ANSIBLE_CONFIG"] = str(Path(ephemeral) / "ansible.cfg")
    env["ANSIBLE_ROLES_PATH"] = str(PROJECT_DIR / "roles")
    env["ANSIBLE_NOCOLOR"] = "1"
    env.pop("ANSIBLE_FORCE_COLOR", None)
    argv = ["ansible-playbook", "-i", inventory or os.environ["MOLECULE_INVENTORY_FILE"],
            str(PROJECT_DIR / "playbook.yml"), *args]
    return argv, env


def run_playbook(*args: str, timeout: int = 900, inventory: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the project's playbook against this scenario's hosts (or *inventory*) and wait for it."""
    argv, env = playbook_invocation(*args, inventory=inventory)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False)


def deploy(*args: str, inventory: str | None = None, **extra: object) -> subprocess.CompletedProcess[str]:
    """Run the playbook with *extra* as extra variables (JSON), e.g. deploy(quote_app_version="2")."""
    return run_playbook(*args, *(["-e", json.dumps(extra)] if extra else []), inventory=inventory)


def recap(output: str) -> dict[str, dict[str, int]]:
    """PLAY RECAP counters per host, e.g. {"host": {"ok": 50, "changed": 0, ...}}."""
    hosts = {}
    for name, counters in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", output, re.M):
        hosts[name] = {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", counters)}
    return hosts


def flush_access_logs(host) -> None:
    """Make nginx write its buffered access logs (nginx_access_log_buffer): reopening them does."""
    host.check_output("nginx -s reopen && sleep 1")  # the workers reopen a moment after the signal


@contextmanager
def traffic(url: str, interval: float = 0.05, timeout: float = 10) -> Iterator[Counter]:
    """GET *url* every *interval* seconds (after each answer) while the body runs; count statuses
    (0 = no answer within *timeout* seconds). The site's rate limit admits 10 requests a second to /."""
    seen: Counter = Counter()
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            try:
                seen[http_get(url, timeout=timeout).status] += 1
            except OSError:
                seen[0] += 1
            time.sleep(interval)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        yield seen
    finally:
        stop.set()
        poller.join()
