"""Makes the shared helpers and fixtures of molecule/shared/tests available here."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared" / "tests"))

from quote_testlib import site_url  # noqa: E402,F401  (fixture)
