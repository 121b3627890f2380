"""WSGI entry point: gunicorn runs `wsgi:app` with this directory as chdir."""

from app import app

__all__ = ["app"]

if __name__ == "__main__":
    app.run()
