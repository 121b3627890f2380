"""The shared fixtures of molecule/shared/tests for the tests here (quote_testlib is importable
through the verifier's pythonpath option, .config/molecule/config.yml)."""

from __future__ import annotations

from quote_testlib import bundled_quotes, site_url  # noqa: F401  (fixtures)
