"""The WSGI entry point gunicorn loads as `wsgi:app`."""

from __future__ import annotations

import app as app_module
import wsgi
from flask import Flask


def test_wsgi_exposes_the_flask_app() -> None:
    assert isinstance(wsgi.app, Flask)
    assert wsgi.app is app_module.app


def test_wsgi_app_serves_requests() -> None:
    response = wsgi.app.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"
