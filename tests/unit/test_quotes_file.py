"""Checks on the bundled data file files/app/quotes.json."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from app import QuoteStore

QUOTES_FILE = Path(__file__).resolve().parents[2] / "files" / "app" / "quotes.json"
FIRST_FEATURE_FILM_YEAR = 1895


def test_is_utf8_json_list() -> None:
    text = QUOTES_FILE.read_bytes().decode("utf-8")  # strict: fails on bad bytes
    data = json.loads(text)

    assert isinstance(data, list)


def test_is_pretty_printed() -> None:
    text = QUOTES_FILE.read_text(encoding="utf-8")
    data = json.loads(text)

    # One key per line at least: more lines than entries times keys.
    assert text.count("\n") > 3 * len(data)
    assert text.endswith("\n")


def test_has_at_least_50_quotes(bundled_quotes: list[dict[str, Any]]) -> None:
    assert len(bundled_quotes) >= 50


def test_entries_are_well_formed(bundled_quotes: list[dict[str, Any]]) -> None:
    this_year = datetime.date.today().year
    for index, entry in enumerate(bundled_quotes):
        assert isinstance(entry, dict), index
        assert set(entry) <= {"film", "quote", "year"}, index
        for key in ("film", "quote"):
            value = entry.get(key)
            assert isinstance(value, str), (index, key)
            assert value.strip(), (index, key)
            assert value == value.strip(), (index, key, "stray whitespace")
        if "year" in entry:
            year = entry["year"]
            assert isinstance(year, int), index
            assert not isinstance(year, bool), index
            assert FIRST_FEATURE_FILM_YEAR <= year <= this_year, (index, year)


def test_quotes_are_unique(bundled_quotes: list[dict[str, Any]]) -> None:
    normalized = [" ".join(q["quote"].casefold().split()) for q in bundled_quotes]
    duplicates = {q for q in normalized if normalized.count(q) > 1}

    assert not duplicates


def test_same_film_has_same_year(bundled_quotes: list[dict[str, Any]]) -> None:
    years: dict[str, set[int]] = {}
    for entry in bundled_quotes:
        if "year" in entry:
            years.setdefault(entry["film"], set()).add(entry["year"])

    assert {film: ys for film, ys in years.items() if len(ys) > 1} == {}


def test_app_loader_accepts_it(bundled_quotes: list[dict[str, Any]]) -> None:
    store = QuoteStore.from_file(QUOTES_FILE)

    assert len(store) == len(bundled_quotes)
    assert [q.quote for q in store.quotes] == [q["quote"] for q in bundled_quotes]
