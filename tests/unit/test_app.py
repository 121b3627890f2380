"""Unit tests for files/app/app.py, through Flask's test client."""

from __future__ import annotations

import ast
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import app as app_module
import pytest
from app import Quote, QuoteFileError, QuoteStore, create_app
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape

APP_DIR = Path(__file__).resolve().parents[2] / "files" / "app"
QuotesWriter = Callable[[Any], Path]

ONE_QUOTE = [
    {"film": "Casablanca", "year": 1942, "quote": "Here's looking at you, kid."}
]
TWO_QUOTES = [
    {"film": "Jaws", "quote": "You're gonna need a bigger boat."},
    {"film": "The Terminator", "year": 1984, "quote": "I'll be back."},
]


def client_for(path: Path) -> FlaskClient:
    return create_app(str(path)).test_client()


# --- GET / ------------------------------------------------------------------


def test_index_renders_quote_from_file(write_quotes: QuotesWriter) -> None:
    response = client_for(write_quotes(ONE_QUOTE)).get("/")

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.mimetype_params.get("charset") == "utf-8"
    body = response.get_data(as_text=True)
    assert "Quote of the day" in body
    assert "FILM:" in body
    assert "QUOTE:" in body
    assert "Casablanca (1942)" in body
    assert str(escape("Here's looking at you, kid.")) in body


def test_index_omits_missing_year(write_quotes: QuotesWriter) -> None:
    body = client_for(write_quotes(TWO_QUOTES[:1])).get("/").get_data(as_text=True)

    assert '<h4 class="film">Jaws</h4>' in body


def test_index_shows_a_bundled_quote(bundled_quotes: list[dict]) -> None:
    body = create_app().test_client().get("/").get_data(as_text=True)

    shown = [q for q in bundled_quotes if str(escape(q["quote"])) in body]
    assert shown, "the page shows none of the bundled quotes"
    assert any(str(escape(q["film"])) in body for q in shown)


def test_index_is_html5_without_inline_css_or_js(write_quotes: QuotesWriter) -> None:
    body = client_for(write_quotes(ONE_QUOTE)).get("/").get_data(as_text=True)

    assert body.lstrip().lower().startswith("<!doctype html>")
    assert '<html lang="en">' in body
    assert '<meta charset="utf-8">' in body
    assert '<meta name="viewport"' in body
    assert "<title>Quote of the day</title>" in body
    assert '<link rel="stylesheet" href="/static/style.css">' in body
    # A strict Content-Security-Policy (no 'unsafe-inline') must work.
    assert "<style" not in body
    assert "style=" not in body
    assert "<script" not in body


@pytest.mark.parametrize("field", ["film", "quote"])
def test_index_escapes_html_in_quotes(write_quotes: QuotesWriter, field: str) -> None:
    evil = "<script>alert('x')</script>"
    entry = {"film": "A film", "quote": "A quote", field: evil}
    body = client_for(write_quotes([entry])).get("/").get_data(as_text=True)

    assert evil not in body
    assert "<script" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in body


def test_stylesheet_is_served() -> None:
    response = create_app().test_client().get("/static/style.css")

    assert response.status_code == 200
    assert response.mimetype == "text/css"
    css = response.get_data(as_text=True)
    response.close()
    assert "background: black" in css
    assert "border: 20px solid white" in css
    assert "text-transform: uppercase" in css


# --- GET /healthz -----------------------------------------------------------


def test_healthz_shape(write_quotes: QuotesWriter) -> None:
    response = client_for(write_quotes(TWO_QUOTES)).get("/healthz")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.get_json() == {
        "status": "ok",
        "quotes": 2,
        "version": "dev",
        "release": "dev",
        "upstream": "off",
    }


def test_healthz_counts_bundled_quotes(bundled_quotes: list[dict]) -> None:
    data = create_app().test_client().get("/healthz").get_json()

    assert data["quotes"] == len(bundled_quotes)


@pytest.mark.parametrize(
    ("env_value", "expected"),
    [
        (None, "dev"),
        ("", "dev"),
        ("1.4.2", "1.4.2"),
        ("0.1.0+git.abc123", "0.1.0+git.abc123"),
    ],
)
def test_healthz_version_from_env(
    monkeypatch: pytest.MonkeyPatch,
    write_quotes: QuotesWriter,
    env_value: str | None,
    expected: str,
) -> None:
    if env_value is not None:
        monkeypatch.setenv("QUOTE_APP_VERSION", env_value)

    data = client_for(write_quotes(ONE_QUOTE)).get("/healthz").get_json()

    assert data["version"] == expected


# --- GET /api/quote ---------------------------------------------------------


def test_api_quote_shape(write_quotes: QuotesWriter) -> None:
    client = client_for(write_quotes(TWO_QUOTES))
    expected = {(q["film"], q["quote"]) for q in TWO_QUOTES}

    for _ in range(10):
        response = client.get("/api/quote")
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        data = response.get_json()
        assert set(data) == {"film", "quote", "source"}
        assert (data["film"], data["quote"]) in expected
        assert data["source"] == "bundled"


def test_api_quote_serves_bundled_quotes(bundled_quotes: list[dict]) -> None:
    data = create_app().test_client().get("/api/quote").get_json()

    assert (data["film"], data["quote"]) in {
        (q["film"], q["quote"]) for q in bundled_quotes
    }


# --- other routes -----------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/api", "/api/quotes", "/healthz/extra", "/static/nope.css"]
)
def test_unknown_path_is_404(write_quotes: QuotesWriter, path: str) -> None:
    assert client_for(write_quotes(ONE_QUOTE)).get(path).status_code == 404


@pytest.mark.parametrize("path", ["/", "/api/quote", "/healthz"])
def test_post_is_405(write_quotes: QuotesWriter, path: str) -> None:
    assert client_for(write_quotes(ONE_QUOTE)).post(path).status_code == 405


# --- where the quotes come from ---------------------------------------------


def test_env_var_selects_quotes_file(
    monkeypatch: pytest.MonkeyPatch, write_quotes: QuotesWriter
) -> None:
    monkeypatch.setenv("QUOTE_APP_QUOTES_FILE", str(write_quotes(ONE_QUOTE)))

    data = create_app().test_client().get("/api/quote").get_json()

    assert data == {
        "film": "Casablanca",
        "quote": "Here's looking at you, kid.",
        "source": "bundled",
    }


def test_explicit_path_beats_env_var(
    monkeypatch: pytest.MonkeyPatch, write_quotes: QuotesWriter
) -> None:
    monkeypatch.setenv("QUOTE_APP_QUOTES_FILE", str(write_quotes(ONE_QUOTE)))

    data = (
        create_app(str(write_quotes(TWO_QUOTES[1:])))
        .test_client()
        .get("/api/quote")
        .get_json()
    )

    assert data == {
        "film": "The Terminator",
        "quote": "I'll be back.",
        "source": "bundled",
    }


def test_create_app_accepts_path_objects(write_quotes: QuotesWriter) -> None:
    data = create_app(write_quotes(ONE_QUOTE)).test_client().get("/healthz").get_json()

    assert data["quotes"] == 1


def test_default_quotes_file_is_next_to_app() -> None:
    assert app_module.DEFAULT_QUOTES_FILE == APP_DIR / "quotes.json"


def test_module_level_app_is_a_flask_app() -> None:
    assert isinstance(app_module.app, Flask)
    assert app_module.app.test_client().get("/healthz").status_code == 200


def test_non_ascii_quotes_round_trip(write_quotes: QuotesWriter) -> None:
    entry = {"film": "Amélie", "quote": "Pas de bras, pas de chocolat\u2014voilà!"}
    client = client_for(write_quotes([entry]))

    assert client.get("/api/quote").get_json() == {**entry, "source": "bundled"}
    assert entry["quote"] in client.get("/").get_data(as_text=True)


# --- broken quotes files fail at startup ------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "not valid JSON", id="empty-file"),
        pytest.param('[{"film": "Jaws",', "not valid JSON", id="truncated-json"),
        pytest.param("film: Jaws\n", "not valid JSON", id="yaml-not-json"),
        pytest.param([], "list of quotes is empty", id="empty-list"),
        pytest.param(
            {"film": "Jaws", "quote": "Hi"},
            "top level must be a list",
            id="object-not-list",
        ),
        pytest.param(["Jaws"], "entry 0 must be an object", id="entry-not-object"),
        pytest.param(
            [{"film": "Jaws"}], "entry 0 is missing the key 'quote'", id="missing-quote"
        ),
        pytest.param(
            [ONE_QUOTE[0], {"quote": "I'll be back."}],
            "entry 1 is missing the key 'film'",
            id="missing-film",
        ),
        pytest.param(
            [{"film": "", "quote": "Hi"}],
            "'film' must be a non-empty string",
            id="empty-film",
        ),
        pytest.param(
            [{"film": "Jaws", "quote": "  "}],
            "'quote' must be a non-empty string",
            id="blank-quote",
        ),
        pytest.param(
            [{"film": "Jaws", "quote": 42}],
            "'quote' must be a non-empty string",
            id="quote-not-str",
        ),
        pytest.param(
            [{"film": None, "quote": "Hi"}],
            "'film' must be a non-empty string",
            id="film-null",
        ),
        pytest.param(
            [{"film": "Jaws", "quote": "Hi", "year": "1975"}],
            "'year' must be an integer",
            id="year-str",
        ),
        pytest.param(
            [{"film": "Jaws", "quote": "Hi", "year": True}],
            "'year' must be an integer",
            id="year-bool",
        ),
        pytest.param(
            [{"film": "Jaws", "quote": "Hi", "yaer": 1975}],
            "unknown key(s): yaer",
            id="typo-key",
        ),
        pytest.param(ONE_QUOTE * 2, "entry 1 is a duplicate", id="duplicate"),
    ],
)
def test_broken_quotes_file_fails_startup(
    write_quotes: QuotesWriter, content: object, message: str
) -> None:
    path = write_quotes(content)

    with pytest.raises(ValueError, match=re.escape(message)) as excinfo:
        create_app(str(path))

    assert isinstance(excinfo.value, QuoteFileError)
    assert str(path) in str(excinfo.value)


def test_broken_file_from_env_fails_startup(
    monkeypatch: pytest.MonkeyPatch, write_quotes: QuotesWriter
) -> None:
    monkeypatch.setenv("QUOTE_APP_QUOTES_FILE", str(write_quotes("[]")))

    with pytest.raises(ValueError, match="list of quotes is empty"):
        create_app()


def test_missing_quotes_file_fails_startup(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be read"):
        create_app(str(tmp_path / "does-not-exist.json"))


def test_non_utf8_quotes_file_fails_startup(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('[{"film": "Am\u00e9lie", "quote": "Hi"}]'.encode("latin-1"))

    with pytest.raises(ValueError, match="cannot be read"):
        create_app(str(path))


# --- QuoteStore -------------------------------------------------------------


def test_quote_store_picks_every_quote_eventually() -> None:
    quotes = [Quote(film=f"Film {i}", quote=f"Quote {i}") for i in range(5)]
    store = QuoteStore(quotes, rng=random.Random(1234))

    picked = {store.random() for _ in range(200)}

    assert picked == set(quotes)
    assert len(store) == 5


def test_quote_store_rejects_empty() -> None:
    with pytest.raises(ValueError, match="at least one quote"):
        QuoteStore([])


def test_quote_to_dict_is_the_public_shape() -> None:
    quote = Quote(film="Rocky", quote="Yo, Adrian!", year=1976)

    assert quote.to_dict() == {"film": "Rocky", "quote": "Yo, Adrian!"}


# --- only upstream.py talks to the network ---------------------------------

NETWORK_MODULES = {"requests", "urllib", "urllib3", "http", "socket", "httpx"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    return imported


def test_only_upstream_module_imports_network_libraries() -> None:
    # The request handlers (app.py) only read the in-memory pool; every
    # network call lives in upstream.py and runs in its background thread.
    users = {
        path.name
        for path in APP_DIR.glob("*.py")
        if _imported_modules(path) & NETWORK_MODULES
    }

    assert "flask" in _imported_modules(APP_DIR / "app.py")
    assert users == {"upstream.py"}


def test_healthz_upstream_is_off_without_url(write_quotes: QuotesWriter) -> None:
    flask_app = create_app(str(write_quotes(ONE_QUOTE)))

    assert flask_app.extensions["quote_refresher"] is None
    assert flask_app.test_client().get("/healthz").get_json()["upstream"] == "off"


def test_release_version_prefers_env_then_release_file(tmp_path, monkeypatch):
    import app as app_module

    release = tmp_path / "RELEASE"
    monkeypatch.delenv("QUOTE_APP_VERSION", raising=False)
    assert app_module.release_version(release) == "dev"
    release.write_text("v42\n", encoding="utf-8")
    assert app_module.release_version(release) == "v42"
    monkeypatch.setenv("QUOTE_APP_VERSION", "from-env")
    assert app_module.release_version(release) == "from-env"


def test_healthz_reports_the_label_and_the_release_id(tmp_path, monkeypatch, write_quotes):
    import app as app_module

    release = tmp_path / "RELEASE"
    release.write_text("2026-12-01-0123456789ab\n", encoding="utf-8")
    monkeypatch.setattr(app_module, "RELEASE_FILE", release)
    monkeypatch.setattr(app_module.release_id, "__defaults__", (release,))
    monkeypatch.setattr(app_module.release_version, "__defaults__", (release,))
    monkeypatch.setenv("QUOTE_APP_VERSION", "2026-12-01")

    data = client_for(write_quotes(ONE_QUOTE)).get("/healthz").get_json()

    assert (data["version"], data["release"]) == ("2026-12-01", "2026-12-01-0123456789ab")


def test_healthz_names_the_commit_of_a_release_from_git(tmp_path, monkeypatch, write_quotes):
    import app as app_module

    commit = tmp_path / "COMMIT"
    monkeypatch.setattr(app_module.source_commit, "__defaults__", (commit,))
    assert "commit" not in client_for(write_quotes(ONE_QUOTE)).get("/healthz").get_json()
    commit.write_text("0123456789abcdef0123456789abcdef01234567\n", encoding="utf-8")
    data = client_for(write_quotes(ONE_QUOTE)).get("/healthz").get_json()
    assert data["commit"] == "0123456789abcdef0123456789abcdef01234567"
