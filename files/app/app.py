"""Movie quote of the day: a small Flask app served by gunicorn behind nginx.

Quotes come from a bundled JSON file (``quotes.json`` next to this module,
or the file named by the ``QUOTE_APP_QUOTES_FILE`` environment variable).
The file is validated when the app is created: a broken file makes startup
fail with a ``QuoteFileError`` (a ``ValueError``) instead of serving garbage.

This version makes no outbound network calls. A later quote source (e.g. an
upstream API) only has to produce ``Quote`` objects for a ``QuoteStore``.

Routes:
    GET /           HTML page with a random quote
    GET /api/quote  a random quote as JSON: {"film": ..., "quote": ...}
    GET /healthz    {"status": "ok", "quotes": <count>, "version": <str>}
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, render_template

QUOTES_FILE_ENV = "QUOTE_APP_QUOTES_FILE"
VERSION_ENV = "QUOTE_APP_VERSION"
DEFAULT_VERSION = "dev"
DEFAULT_QUOTES_FILE = Path(__file__).resolve().parent / "quotes.json"

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


def create_app(quotes_path: str | os.PathLike[str] | None = None) -> Flask:
    """Build the app.

    The quotes file is ``quotes_path`` if given, else ``$QUOTE_APP_QUOTES_FILE``
    if set, else ``quotes.json`` next to this module. It is loaded and checked
    here, so a broken file fails at startup (QuoteFileError, a ValueError).
    """
    path = quotes_path or os.environ.get(QUOTES_FILE_ENV) or DEFAULT_QUOTES_FILE
    store = QuoteStore.from_file(path)
    version = os.environ.get(VERSION_ENV) or DEFAULT_VERSION

    flask_app = Flask(__name__)
    flask_app.extensions["quote_store"] = store
    flask_app.config["QUOTE_APP_VERSION"] = version

    @flask_app.get("/")
    def index() -> str:
        return render_template("index.html", quote=store.random())

    @flask_app.get("/api/quote")
    def api_quote() -> Response:
        return jsonify(store.random().to_dict())

    @flask_app.get("/healthz")
    def healthz() -> Response:
        response = jsonify(status="ok", quotes=len(store), version=version)
        response.headers["Cache-Control"] = "no-store"
        return response

    return flask_app


app = create_app()


if __name__ == "__main__":
    # Development server only; production runs `gunicorn wsgi:app`.
    app.run(host="127.0.0.1", port=5000, debug=False)
