"""What a load balancer asks: is this instance alive, and can it take calls now?

`/healthz` is liveness: the process answers, nothing else is touched, so a balancer or an
orchestrator never restarts a healthy instance because its database is away. `/readyz` is
readiness: the knowledge is loaded and the database answers a query. An instance that cannot
reach its database cannot record JWT ids (trusted mode refuses every hook call then) nor
store feedback, so a balancer should send its calls elsewhere.

A call that needs the database while it is away is answered 503 with an OperationOutcome,
never a 500: the EHR may try again, and nothing acknowledged is lost (feedback is refused
before it is stored, never after). The engine's pool checks each connection before use
(`db.py`), so calls recover by themselves when the database returns.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, jsonify, request
from sqlalchemy.engine import Engine

from cds_service import __version__
from cds_service.web.errors import json_error
from cds_service.web.state import service_state

log = logging.getLogger(__name__)

# The database is unreachable, went away mid-statement, or every pooled connection is busy.
# Data errors (IntegrityError, DataError) are bugs, not outages: they stay 500s.
DATABASE_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError)
_UNAVAILABLE = "The service's database is unavailable; nothing was stored. Try again shortly."


def register_health(app: Flask, engine: Engine) -> None:
    app.add_url_rule("/readyz", "readyz", lambda: _readyz(engine), methods=["GET"])
    for error in DATABASE_UNAVAILABLE:
        app.register_error_handler(error, _database_unavailable)


def _readyz(engine: Engine):
    knowledge = service_state().knowledge
    with engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    return jsonify(
        {
            "status": "ready",
            "version": __version__,
            "knowledgeVersion": knowledge.version,
            "database": "ok",
        }
    )


def _database_unavailable(error: sa.exc.SQLAlchemyError):
    # The driver's message names the host and port; the type says enough.
    cause = type(getattr(error, "orig", None) or error).__name__
    log.warning("database unavailable on %s: %s", request.endpoint, cause)
    return json_error(503, _UNAVAILABLE)
