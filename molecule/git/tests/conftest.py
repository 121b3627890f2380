"""The shared fixtures of molecule/shared/tests (on pytest's pythonpath, see .config/molecule)."""

from __future__ import annotations

from quote_testlib import site_url  # noqa: F401  (fixture)
