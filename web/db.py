"""One SQLAlchemy session per request, from crm's sessionmaker (no Flask-SQLAlchemy)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker


def init_app(app: Flask, sessions: sessionmaker[Session]) -> None:
    """Keep the sessionmaker on the app and close each request's session at its end."""
    app.extensions["crmsync.sessions"] = sessions
    app.teardown_appcontext(_close)


def session() -> Session:
    """This request's session (opened on first use). Handlers that write commit it."""
    if "db" not in g:
        g.db = current_app.extensions["crmsync.sessions"]()
    db: Session = g.db
    return db


def _close(_exc: BaseException | None) -> None:
    db = g.pop("db", None)
    if db is not None:
        db.close()  # an uncommitted transaction is rolled back
