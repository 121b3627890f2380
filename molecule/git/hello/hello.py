"""A second Flask app, not the quote app: the git scenario deploys it from a git repository.

It has its own WSGI entry point (hello:application) and health path (/health), whose answer
says nothing of the release it runs.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, jsonify

application = Flask(__name__)
GREETING = (Path(__file__).resolve().parent / "greeting.txt").read_text(encoding="utf-8").strip()


@application.get("/")
def index() -> str:
    return f"<!doctype html><title>Hello</title><p>Hello, {GREETING}!</p>\n"


@application.get("/health")
def health() -> Response:
    return jsonify(ok=True)
