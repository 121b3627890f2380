"""Shared helpers, plus fixtures for talking TLS to the host through its published ports."""

from __future__ import annotations

import pytest
from quote_testlib import bundled_quotes, published_port  # noqa: F401  (fixtures)


@pytest.fixture(scope="module")
def ports(host) -> dict[int, int]:
    """The loopback ports this machine reaches the host's 80 and 443 on."""
    return {port: published_port(host.backend.name, port) for port in (80, 443)}
