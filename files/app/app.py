"""Movie quote of the day: a small Flask app served by gunicorn behind nginx.

Quotes come from a bundled JSON file (``quotes.json`` next to this module,
or the file named by the ``QUOTE_APP_QUOTES_FILE`` environment variable),
validated when the app is created: a broken file makes startup fail with a
``QuoteFileError`` (a ``ValueError``) instead of serving garbage.

Optionally (``QUOTE_APP_UPSTREAM_URL`` and friends, see ``upstream.py``) a
background thread keeps a pool of quotes from an upstream API. Requests only
read that pool: a page view never waits on the network. While the pool is
fresh a request gets an upstream quote, otherwise (upstream unset, down,
slow or sending garbage) a bundled one. Bad upstream settings fail startup
with an ``UpstreamConfigError`` (a ``ValueError``) naming the variable.

Routes:
    GET /           HTML page with a random quote
    GET /api/quote  a random quote as JSON:
                    {"film": ..., "quote": ..., "source": "upstream"|"bundled"}
    GET /healthz    {"status": "ok", "quotes": <bundled count>, "version": <str>,
                     "release": <str>, "upstream": "off"|"fresh"|"stale",
                     "commit": <str>, for a release made from git};
                    always 200, the app is healthy without its upstream.
                    "version" is the label the operator gave the release,
                    "release" the id of the code that answers (the RELEASE
                    file the deploy writes next to it).
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, jsonify, render_template
from quotes import Quote, QuoteFileError, QuoteStore, load_quotes, parse_quotes
from upstream import Clock, UpstreamConfig, UpstreamConfigError, UpstreamRefresher

__all__ = [
    "DEFAULT_QUOTES_FILE",
    "Quote",
    "QuoteFileError",
    "QuoteStore",
    "UpstreamConfig",
    "UpstreamConfigError",
    "app",
    "create_app",
    "load_quotes",
    "parse_quotes",
]

QUOTES_FILE_ENV = "QUOTE_APP_QUOTES_FILE"
VERSION_ENV = "QUOTE_APP_VERSION"
DEFAULT_VERSION = "dev"
DEFAULT_QUOTES_FILE = Path(__file__).resolve().parent / "quotes.json"
# Written by the deploy next to the code, so the id always names the code that answers.
RELEASE_FILE = Path(__file__).resolve().parent / "RELEASE"
COMMIT_FILE = Path(__file__).resolve().parent / "COMMIT"


def release_id(release_file: Path = RELEASE_FILE) -> str | None:
    """The id in the RELEASE file beside the code, or None without one."""
    try:
        return release_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def source_commit(commit_file: Path = COMMIT_FILE) -> str | None:
    """The git commit the release was made from (the COMMIT file the deploy writes), if any."""
    try:
        return commit_file.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def release_version(release_file: Path = RELEASE_FILE) -> str:
    """The release's label: ``$QUOTE_APP_VERSION``, else the RELEASE file's id, else "dev"."""
    if os.environ.get(VERSION_ENV):
        return os.environ[VERSION_ENV]
    return release_id(release_file) or DEFAULT_VERSION

SOURCE_UPSTREAM = "upstream"
SOURCE_BUNDLED = "bundled"


def create_app(
    quotes_path: str | os.PathLike[str] | None = None,
    *,
    upstream: UpstreamConfig | None = None,
    clock: Clock | None = None,
) -> Flask:
    """Build the app.

    The quotes file is ``quotes_path`` if given, else ``$QUOTE_APP_QUOTES_FILE``
    if set, else ``quotes.json`` next to this module. It is loaded and checked
    here, so a broken file fails at startup (QuoteFileError, a ValueError).

    ``upstream`` configures the upstream API; when None it is read from the
    ``QUOTE_APP_UPSTREAM_*`` environment variables (off if the URL is unset).
    ``clock`` (monotonic seconds) decides freshness; tests may pass their own.
    The refresher thread is not started here but on the first request, so
    under gunicorn it runs in each worker, never in the master before fork.
    It is ``app.extensions["quote_refresher"]`` (None when off); call its
    ``stop()`` to end the thread.
    """
    path = quotes_path or os.environ.get(QUOTES_FILE_ENV) or DEFAULT_QUOTES_FILE
    store = QuoteStore.from_file(path)
    version = release_version()
    release = release_id() or version
    commit = source_commit()
    config = upstream if upstream is not None else UpstreamConfig.from_env()
    refresher: UpstreamRefresher | None = None
    if config is not None:
        refresher = UpstreamRefresher(
            config, clock=clock, user_agent=f"quote-app/{version}"
        )

    flask_app = Flask(__name__)
    flask_app.extensions["quote_store"] = store
    flask_app.extensions["quote_refresher"] = refresher
    flask_app.config["QUOTE_APP_VERSION"] = version

    def pick_quote() -> tuple[Quote, str]:
        """A random quote and where it came from; never touches the network."""
        if refresher is not None and refresher.is_fresh():
            quote = refresher.pool.random()
            if quote is not None:
                return quote, SOURCE_UPSTREAM
        return store.random(), SOURCE_BUNDLED

    if refresher is not None:

        @flask_app.before_request
        def start_refresher() -> None:
            # Lazy: starts this process's thread on its first request.
            refresher.ensure_started()

    @flask_app.get("/")
    def index() -> str:
        quote, _source = pick_quote()
        return render_template("index.html", quote=quote)

    @flask_app.get("/api/quote")
    def api_quote() -> Response:
        quote, source = pick_quote()
        return jsonify({**quote.to_dict(), "source": source})

    @flask_app.get("/healthz")
    def healthz() -> Response:
        details = {"commit": commit} if commit else {}
        response = jsonify(
            status="ok",
            quotes=len(store),
            version=version,
            release=release,
            upstream="off" if refresher is None else refresher.status(),
            **details,
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    return flask_app


app = create_app()


if __name__ == "__main__":
    # Development server only; production runs `gunicorn wsgi:app`.
    app.run(host="127.0.0.1", port=5000, debug=False)
