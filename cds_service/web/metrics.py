"""Prometheus metrics at `GET /metrics`: seconds per pipeline stage, cards, responses.

Labels hold only values the service defines (declared service ids, stage names, card
topics, indicators, endpoint names, HTTP status codes): never patient data, never raw input.

Under gunicorn every worker is a process with its own counters. With
`PROMETHEUS_MULTIPROC_DIR` set (prometheus-client's own variable, which the library reads
when it is first imported) each worker writes its samples to files in that folder and
`/metrics` adds up every worker's; the folder must be empty when gunicorn starts. Without it,
`/metrics` serves the process's default registry.
"""

from __future__ import annotations

import logging
import os

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

from cds_service.registry import SERVICES_BY_ID

log = logging.getLogger(__name__)

MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Stages take from 0.1 ms (decision) to the hook deadline (fetch, CDS_HOOK_DEADLINE 8 s).
_STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

STAGE_SECONDS = Histogram(
    "cds_hook_stage_seconds",
    "Seconds spent per stage of a hook call (parse, fetch, findings, decision, render).",
    ["service", "stage"],
    buckets=_STAGE_BUCKETS,
)
CARDS = Counter(
    "cds_cards",
    "Cards returned, by card topic and indicator.",
    ["service", "topic", "indicator"],
)
RESPONSES = Counter(
    "cds_http_responses",
    "HTTP responses, by endpoint and status code.",
    ["endpoint", "status"],
)


def register_metrics(app: Flask) -> None:
    """Count every response and serve `GET /metrics` (open, like discovery: no patient data)."""
    multiprocess_dir = os.environ.get(MULTIPROC_DIR_VARIABLE) or None
    if multiprocess_dir:
        log.info("metrics: gunicorn workers add up their samples (%s set)", MULTIPROC_DIR_VARIABLE)
    app.after_request(_record)
    app.add_url_rule("/metrics", "metrics", lambda: _exposition(multiprocess_dir), methods=["GET"])


def _record(response: Response) -> Response:
    RESPONSES.labels(request.endpoint or "unmatched", str(response.status_code)).inc()
    outcome = g.get("cds_outcome")
    service = g.get("cds_service_id")
    if outcome is not None and service in SERVICES_BY_ID:
        for stage, seconds in outcome.timings.seconds.items():
            STAGE_SECONDS.labels(service, stage).observe(seconds)
        for card in outcome.response.cards:
            topic = card.source.topic.code if card.source.topic else "none"
            CARDS.labels(service, topic, card.indicator).inc()
    return response


def _exposition(multiprocess_dir: str | None) -> Response:
    if multiprocess_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiprocess_dir)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, content_type=CONTENT_TYPE_LATEST)
