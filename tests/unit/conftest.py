"""Shared fixtures for the app's unit tests.

pytest.ini puts files/app on the import path, so the tests import the app the
way gunicorn does (`wsgi:app` with files/app as the working directory).
Bytecode writing is turned off so no __pycache__ lands in files/app, which is
copied to hosts as a whole.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.dont_write_bytecode = True

APP_DIR = Path(__file__).resolve().parents[2] / "files" / "app"

QUOTES_FILE = APP_DIR / "quotes.json"

QuotesWriter = Callable[[Any], Path]


@pytest.fixture(autouse=True)
def _clean_app_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests start without the app's environment variables set (no upstream)."""
    monkeypatch.delenv("QUOTE_APP_QUOTES_FILE", raising=False)
    monkeypatch.delenv("QUOTE_APP_VERSION", raising=False)
    for name in (
        "QUOTE_APP_UPSTREAM_URL",
        "QUOTE_APP_UPSTREAM_TIMEOUT",
        "QUOTE_APP_UPSTREAM_INTERVAL",
        "QUOTE_APP_UPSTREAM_FILM_FIELD",
        "QUOTE_APP_UPSTREAM_QUOTE_FIELD",
        "QUOTE_APP_UPSTREAM_POOL_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def write_quotes(tmp_path: Path) -> QuotesWriter:
    """Write data to a fresh quotes file; str is written as is, else as JSON."""
    counter = iter(range(1_000_000))

    def _write(data: Any) -> Path:
        path = tmp_path / f"quotes-{next(counter)}.json"
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        path.write_text(text, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def bundled_quotes() -> list[dict[str, Any]]:
    return json.loads(QUOTES_FILE.read_text(encoding="utf-8"))
