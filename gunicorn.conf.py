"""gunicorn hooks, read from the working directory by every gunicorn started here (Procfile too).

Settings stay on the Procfile's command line; this file only adds what a command line cannot.
"""

from __future__ import annotations

import os
from pathlib import Path


def on_starting(server) -> None:
    """prometheus-client's multiprocess files must not outlive a run (its documentation)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def post_worker_init(worker) -> None:
    """The app is built: tune the worker's garbage collection and GIL hand-offs for hook
    calls (cds_service/runtime.py says why and what it measured). The benchmark's floor app
    gets the same tuning: it is served by a gunicorn started here too."""
    from cds_service.runtime import tune_worker

    tune_worker()
