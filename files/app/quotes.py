"""Quotes and the bundled quotes file.

``Quote`` is what every source produces (the bundled file, the upstream API).
The bundled file is validated when it is loaded: a broken file raises a
``QuoteFileError`` (a ``ValueError``) naming the first problem, so the app
fails at startup instead of serving garbage.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REQUIRED_KEYS = ("film", "quote")
_ALLOWED_KEYS = frozenset({"film", "quote", "year"})


class QuoteFileError(ValueError):
    """The quotes file is missing, unreadable or not in the expected shape."""


@dataclass(frozen=True)
class Quote:
    film: str
    quote: str
    year: int | None = None

    def to_dict(self) -> dict[str, str]:
        """The public JSON shape of a quote."""
        return {"film": self.film, "quote": self.quote}


def _parse_entry(index: int, entry: Any) -> Quote:
    """Validate one decoded JSON entry; raise QuoteFileError naming the problem."""
    if not isinstance(entry, dict):
        raise QuoteFileError(
            f"entry {index} must be an object, got {type(entry).__name__}"
        )
    for key in _REQUIRED_KEYS:
        if key not in entry:
            raise QuoteFileError(f"entry {index} is missing the key {key!r}")
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            raise QuoteFileError(
                f"entry {index}: {key!r} must be a non-empty string, got {value!r}"
            )
    unknown = sorted(set(entry) - _ALLOWED_KEYS)
    if unknown:
        raise QuoteFileError(f"entry {index} has unknown key(s): {', '.join(unknown)}")
    year = entry.get("year")
    # bool is a subclass of int: reject it explicitly.
    if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
        raise QuoteFileError(f"entry {index}: 'year' must be an integer, got {year!r}")
    return Quote(film=entry["film"], quote=entry["quote"], year=year)


def parse_quotes(data: Any) -> list[Quote]:
    """Validate decoded JSON data and turn it into quotes.

    Raises QuoteFileError (a ValueError) naming the first problem found.
    """
    if not isinstance(data, list):
        raise QuoteFileError(
            f"top level must be a list of quotes, got {type(data).__name__}"
        )
    if not data:
        raise QuoteFileError("the list of quotes is empty")
    quotes: list[Quote] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(data):
        quote = _parse_entry(index, entry)
        key = (quote.film.strip().casefold(), quote.quote.strip().casefold())
        if key in seen:
            raise QuoteFileError(
                f"entry {index} is a duplicate: {quote.film!r}: {quote.quote!r}"
            )
        seen.add(key)
        quotes.append(quote)
    return quotes


def load_quotes(path: str | os.PathLike[str]) -> list[Quote]:
    """Read and validate a quotes file; raise QuoteFileError on any problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuoteFileError(f"quotes file {path}: cannot be read: {exc}") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise QuoteFileError(f"quotes file {path}: is not valid JSON: {exc}") from exc
    try:
        return parse_quotes(data)
    except QuoteFileError as exc:
        raise QuoteFileError(f"quotes file {path}: {exc}") from exc


class QuoteStore:
    """An immutable, non-empty collection of quotes to pick from."""

    def __init__(
        self, quotes: Sequence[Quote], rng: random.Random | None = None
    ) -> None:
        if not quotes:
            raise ValueError("a QuoteStore needs at least one quote")
        self._quotes: tuple[Quote, ...] = tuple(quotes)
        # Picking a quote is not security-sensitive: a plain PRNG is fine.
        self._rng = rng if rng is not None else random.Random()

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], rng: random.Random | None = None
    ) -> QuoteStore:
        return cls(load_quotes(path), rng=rng)

    def __len__(self) -> int:
        return len(self._quotes)

    @property
    def quotes(self) -> tuple[Quote, ...]:
        return self._quotes

    def random(self) -> Quote:
        return self._rng.choice(self._quotes)
