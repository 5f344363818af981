"""One SQLAlchemy session per request, from crm's sessionmaker (no Flask-SQLAlchemy)."""

from __future__ import annotations

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session, sessionmaker

from crm.db import will_write


def init_app(app: Flask, sessions: sessionmaker[Session]) -> None:
    """Keep the sessionmaker on the app and close each request's session at its end."""
    app.extensions["crmsync.sessions"] = sessions
    app.teardown_appcontext(_close)


def session() -> Session:
    """This request's session (opened on first use). Handlers that write commit it; a
    request other than GET or HEAD begins its transaction as a writer (crm.db.will_write)."""
    if "db" not in g:
        g.db = current_app.extensions["crmsync.sessions"]()
        if request.method not in ("GET", "HEAD"):
            will_write(g.db)
    db: Session = g.db
    return db


def _close(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()  # an uncommitted transaction is rolled back
