"""Fixtures of the multihost scenario: the three hosts by role and the site's published port."""

from __future__ import annotations

import subprocess

import pytest
import testinfra
from quote_testlib import published_port


def address_of(container: str) -> str:
    """The container's address on the scenario's podman network."""
    return subprocess.run(
        ["podman", "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", container],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


WEB = "quote-mh-web"
APPS = {name: address_of(name) for name in ("quote-mh-app1", "quote-mh-app2")}
WEB_ADDRESS = address_of(WEB)
APP_PORT = 8000


@pytest.fixture(scope="session")
def web():
    return testinfra.get_host(f"podman://{WEB}")


@pytest.fixture(scope="session")
def apps() -> dict[str, object]:
    return {name: testinfra.get_host(f"podman://{name}") for name in APPS}


@pytest.fixture(scope="session")
def site_url() -> str:
    return f"http://127.0.0.1:{published_port(WEB, 80)}"
