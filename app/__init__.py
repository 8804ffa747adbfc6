"""Provisor API: ``create_app`` assembles the app from small ``register_*`` steps."""
from __future__ import annotations

import logging
import uuid

from flask import Flask, request

from app.config import Config

log = logging.getLogger(__name__)


def create_app(config: Config | None = None) -> Flask:
    cfg = config or Config.from_env()
    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=None,  # uploads stream; JSON bodies are capped in register_request_hooks
        API_TITLE="Provisor", API_VERSION="v1", OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/api", OPENAPI_JSON_PATH="v1/openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs", OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        TESTING=cfg.testing,
    )
    app.extensions["provisor.config"] = cfg
    register_logging(cfg)
    register_database(app, cfg)
    register_executor(app, cfg)
    register_kinds(cfg)
    register_request_hooks(app, cfg)
    register_api(app)
    register_error_handlers(app)
    return app


def register_logging(cfg: Config) -> None:
    from app.logs import configure

    configure(cfg.log_level, cfg.log_json)


def register_database(app: Flask, cfg: Config) -> None:
    from app.db import Database, app_role_url, embedded_url, normalise_url
    from app.dbsetup import upgrade

    if cfg.database_url:
        url = normalise_url(cfg.database_url)
    else:
        # Embedded mode: start pgserver, migrate as its superuser, connect as the app role.
        admin = embedded_url(cfg.embedded_data_dir)
        upgrade(admin, cfg.app_db_role)
        url = app_role_url(admin, cfg.app_db_role)
        app.extensions["provisor.admin_url"] = admin
    app.extensions["provisor.db"] = Database(url)


def register_executor(app: Flask, cfg: Config) -> None:
    from app.dispatch import CeleryDispatcher, OutboxOnlyDispatcher, install_fast_path

    if cfg.uses_celery:
        from app.celery_ext import init_celery

        dispatcher = CeleryDispatcher(init_celery(app, cfg))
        db = app.extensions["provisor.db"]
        install_fast_path(db.sessions, db.engine, dispatcher)
    else:
        dispatcher = OutboxOnlyDispatcher()
    app.extensions["provisor.dispatcher"] = dispatcher


def register_kinds(cfg: Config) -> None:
    import importlib

    from workers.kinds import registry

    registry.load_shipped()
    for module in cfg.kind_modules:
        importlib.import_module(module)


def register_request_hooks(app: Flask, cfg: Config) -> None:
    from app.errors import PayloadTooLargeError

    @app.before_request
    def _request_id():
        rid = request.headers.get("X-Request-Id") or uuid.uuid4().hex
        request.environ["provisor.request_id"] = rid[:64]
        is_upload = request.path.endswith("/uploads")
        if not is_upload and (request.content_length or 0) > cfg.max_request_bytes:
            raise PayloadTooLargeError(f"request body over {cfg.max_request_bytes} bytes; upload large "
                                       f"portfolios through /api/v1/portfolios/{{id}}/uploads")

    @app.after_request
    def _echo_request_id(resp):
        resp.headers["X-Request-Id"] = request.environ.get("provisor.request_id", "")
        return resp


def register_api(app: Flask) -> None:
    from flask_smorest import Api

    from app.api import audit_events, jobs, ops, portfolios, resources

    api = Api(app, spec_kwargs={"info": {"description": "Asynchronous actuarial and credit-risk calculations."}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for module in (jobs, portfolios, resources, audit_events):
        api.register_blueprint(module.blp, url_prefix="/api/v1")
    app.register_blueprint(ops.bp)
    app.extensions["provisor.api"] = api


def register_error_handlers(app: Flask) -> None:
    from app.errors import register_error_handlers as register

    register(app)
