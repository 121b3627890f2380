"""Registers the shared fixtures for the tests in this folder."""

from __future__ import annotations

from quote_testlib import bundled_quotes, site_url  # noqa: F401  (fixtures)
