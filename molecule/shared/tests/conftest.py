"""Registers the shared fixtures for the tests in this folder. Every scenario's tests import
quote_testlib through the verifier's pythonpath option (.config/molecule/config.yml)."""

from __future__ import annotations

from quote_testlib import bundled_quotes, site_url  # noqa: F401  (fixtures)
