"""Assembling the Flask app from validated settings and knowledge."""

from __future__ import annotations

import dataclasses
import logging

import requests
from flask import Flask
from flask_cors import CORS
from requests.adapters import HTTPAdapter

from cds_service.db import create_database_engine
from cds_service.feedback.store import FeedbackStore
from cds_service.knowledge.loader import load_knowledge
from cds_service.log_lines import OneLineRecords
from cds_service.pipeline import HookPipeline
from cds_service.render import Renderer
from cds_service.settings import Settings
from cds_service.web.auth import install_trust
from cds_service.web.blueprint import blueprint
from cds_service.web.errors import register_error_handlers
from cds_service.web.json_provider import OrjsonProvider
from cds_service.web.metrics import register_metrics
from cds_service.web.openapi import register_openapi
from cds_service.web.pages import pages
from cds_service.web.state import EXTENSION_KEY, ServiceState
from cds_service.web.terminology import fhir_api

log = logging.getLogger("cds_service")


class _Flask(Flask):
    json_provider_class = OrjsonProvider


def build_app(settings: Settings | None = None, **overrides: object) -> Flask:
    settings = settings or Settings.from_environ()
    if overrides:
        settings = dataclasses.replace(settings, **overrides)
        settings.validate()
    _configure_logging(settings)
    knowledge = load_knowledge(settings.knowledge_dir)
    engine = create_database_engine(settings.database_url)
    session = _fhir_session(settings.worker_calls)
    app = _Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.extensions[EXTENSION_KEY] = ServiceState(
        settings=settings,
        knowledge=knowledge,
        pipeline=HookPipeline(knowledge, settings, session, Renderer(knowledge)),
        feedback=FeedbackStore(engine),
    )
    # flask-cors answers preflight OPTIONS itself, before any authentication runs.
    CORS(
        app,
        origins=list(settings.cors_origins),
        allow_headers=["Authorization", "Content-Type"],
        methods=["GET", "POST", "OPTIONS"],
        max_age=600,
    )
    app.register_blueprint(blueprint)
    app.register_blueprint(pages)
    app.register_blueprint(fhir_api)
    register_openapi(app)
    register_metrics(app)
    register_error_handlers(app)
    install_trust(app, settings, engine)
    log.info(
        "vcf-imaging-cds ready: knowledge %s, database %s",
        knowledge.version,
        engine.url.render_as_string(hide_password=True),
    )
    return app


def _fhir_session(calls_at_once: int) -> requests.Session:
    """One pooled session for all of a worker's FHIR calls: CDS_WORKER_CALLS calls at once
    x 5 searches each (3 required, ImagingStudy and DiagnosticReport optional:
    fhir/prefetch.py SEARCHES), to one fhirServer."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=calls_at_once * 5)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _ServiceFormatter(logging.Formatter):
    """Audit records are whole JSON lines; the others get time, level and logger name."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "cds_service.audit":
            return record.getMessage()
        return super().format(record)


def _configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("cds_service")
    logger.setLevel(settings.log_level)
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_ServiceFormatter())
        handler.addFilter(OneLineRecords())
        logger.addHandler(handler)
