"""Part 1: one hook call in-process, through the whole WSGI app, next to `json.loads` of its body.

The app is called the way gunicorn calls it (a WSGI environ, the body as a stream), so the
figure holds routing, authentication hooks, the envelope, the pipeline, the response and the
audit line; only the socket and the HTTP parsing are left out. The interpreter is tuned as
gunicorn.conf.py tunes every worker (cds_service/runtime.py). `json.loads` of the
same bytes is timed in the same loop, call for call: it is the cost no service could avoid.
"""

from __future__ import annotations

import io
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY
from werkzeug.test import EnvironBuilder

from bench.stats import percentile
from bench.workload import SERVICE_PATH, body_bytes, hook_request

STAGES = ("parse", "fetch", "findings", "decision", "render")
SERVICE_ID = SERVICE_PATH.rsplit("/", 1)[1]


@dataclass(frozen=True)
class SizeResult:
    resources: int
    body_bytes: int
    calls: int
    hook_p50_ms: float
    hook_p99_ms: float
    json_loads_p50_ms: float
    json_loads_p99_ms: float
    stage_mean_ms: dict[str, float]

    @property
    def ratio_p50(self) -> float:
        return self.hook_p50_ms / self.json_loads_p50_ms


def measure(
    sizes: dict[int, int], history: list[dict[str, Any]], workdir: Path
) -> list[SizeResult]:
    """`sizes` maps a prefetch size (resources) to the number of timed calls."""
    call = _wsgi_caller(workdir)
    return [_measure_size(call, resources, calls, history) for resources, calls in sizes.items()]


def _wsgi_caller(workdir: Path) -> Callable[[bytes], tuple[str, bytes]]:
    # The audit line is formatted and written as in production, to /dev/null.
    quiet = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115 - lives with the process
    logging.getLogger().addHandler(quiet)
    from cds_service import create_app
    from cds_service.runtime import tune_worker
    from cds_service.settings import Settings

    app = create_app(Settings(database_url=f"sqlite:///{workdir / 'inprocess.sqlite3'}"))
    tune_worker()  # as gunicorn.conf.py does in every worker once the app is built
    template = EnvironBuilder(
        path=SERVICE_PATH, method="POST", content_type="application/json"
    ).get_environ()

    def call(body: bytes) -> tuple[str, bytes]:
        environ = {
            **template,
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body),
        }
        status: list[str] = []
        chunks = app(environ, lambda s, _headers, _exc=None: status.append(s))
        try:
            return status[0], b"".join(chunks)
        finally:
            chunks.close()  # as a WSGI server does: work left for close() is counted too

    return call


def _measure_size(
    call: Callable[[bytes], tuple[str, bytes]],
    resources: int,
    calls: int,
    history: list[dict[str, Any]],
) -> SizeResult:
    body = body_bytes(hook_request(resources, history))
    _check_answer(*call(body))
    for _ in range(3):  # warm-up: caches, first-use imports
        call(body)
    stages_before = _stage_sums()
    hook, loads = [], []
    for _ in range(calls):
        started = time.perf_counter()
        json.loads(body)
        loads.append(time.perf_counter() - started)
        started = time.perf_counter()
        call(body)
        hook.append(time.perf_counter() - started)
    stages_after = _stage_sums()
    return SizeResult(
        resources=resources,
        body_bytes=len(body),
        calls=calls,
        hook_p50_ms=percentile(hook, 50) * 1e3,
        hook_p99_ms=percentile(hook, 99) * 1e3,
        json_loads_p50_ms=percentile(loads, 50) * 1e3,
        json_loads_p99_ms=percentile(loads, 99) * 1e3,
        stage_mean_ms={
            stage: (stages_after[stage] - stages_before[stage]) / calls * 1e3 for stage in STAGES
        },
    )


def _check_answer(status: str, body: bytes) -> None:
    answer = json.loads(body)
    if not status.startswith("200") or len(answer.get("cards", ())) != 1:
        raise RuntimeError(f"the benchmark request did not get its card: {status} {body[:300]!r}")


def _stage_sums() -> dict[str, float]:
    return {
        stage: REGISTRY.get_sample_value(
            "cds_hook_stage_seconds_sum", {"service": SERVICE_ID, "stage": stage}
        )
        or 0.0
        for stage in STAGES
    }
