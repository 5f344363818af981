"""The Flask application: ``create_app`` wires settings, sessions and one blueprint per
feature (the Flask tutorial's factory, without Flask-SQLAlchemy)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from web import (
    accounts,
    addressbooks,
    api,
    auth,
    customeredit,
    customers,
    db,
    duplicates,
    filters,
    followups,
    graphsignin,
    health,
    privacy,
    privacy_requests,
    profile,
    review,
    security,
    status,
    timeline,
)
from web.carddav import app as carddav
from web.settings import WebSettings

log = logging.getLogger(__name__)


def create_app(settings: WebSettings, sessions: sessionmaker[Session]) -> Flask:
    """A configured web application reading and writing through ``sessions``."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        WTF_CSRF_ENABLED=not settings.testing,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=1_000_000,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.extensions["crmsync.settings"] = settings
    app.wsgi_app = carddav.mount(app.wsgi_app, carddav.CardDavApp(sessions))  # type: ignore[method-assign,assignment]
    if settings.behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    CSRFProtect(app)
    security.init_app(app)
    db.init_app(app, sessions)
    auth.init_app(app)
    filters.init_app(app)
    blueprints = (
        customers.bp,
        customeredit.bp,
        timeline.bp,
        review.bp,
        duplicates.bp,
        status.bp,
        accounts.bp,
        graphsignin.bp,
        addressbooks.bp,
        profile.bp,
        privacy.bp,
        health.bp,
        privacy_requests.bp,
        privacy_requests.audit_bp,
        followups.bp,
        api.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    _errors(app)
    return app


def _errors(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError) -> Any:
        return render_template(
            "error.html", code=400, title="Form expired", message=exc.description
        ), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        if api.is_api_request():  # the JSON API answers JSON, never a page
            return api.http_error(exc)
        return render_template(
            "error.html", code=exc.code, title=exc.name, message=exc.description
        ), exc.code

    @app.errorhandler(Exception)
    def server_error(exc: Exception) -> Any:
        # The traceback goes to the log; the page says nothing about the inside.
        log.error("error while answering a request", exc_info=exc)
        if api.is_api_request():
            return api.server_error()
        return render_template(
            "error.html",
            code=500,
            title="Something went wrong",
            message="The error was logged. Please try again, or tell your administrator.",
        ), 500
