"""Shared helpers, plus fixtures for talking TLS to the host through its published ports."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))

from quote_testlib import bundled_quotes  # noqa: E402,F401  (fixtures)
