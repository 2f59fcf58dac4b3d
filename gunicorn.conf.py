"""gunicorn hooks, read from the working directory by every gunicorn started here (Procfile too).

Settings stay on the Procfile's command line; this file only adds what a command line cannot.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

METRICS_FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own
_private_metrics_folder: list[str] = []


def on_starting(server) -> None:
    """Every worker writes its metric samples to one folder, so that `/metrics` adds up all
    workers whichever answers: the folder named by PROMETHEUS_MULTIPROC_DIR, emptied (its
    files must not outlive a run, says prometheus-client), or else a private one made here
    and removed at exit. Workers inherit the variable and import prometheus-client after."""
    folder = os.environ.get(METRICS_FOLDER_VARIABLE)
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink()
        return
    folder = tempfile.mkdtemp(prefix="vcf-imaging-cds-metrics-")
    _private_metrics_folder.append(folder)
    os.environ[METRICS_FOLDER_VARIABLE] = folder


def on_exit(server) -> None:
    for folder in _private_metrics_folder:
        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker) -> None:
    """The app is built: tune the worker's garbage collection for hook calls
    (cds_service/runtime.py says why and what it measured). The benchmark's floor app
    gets the same tuning: it is served by a gunicorn started here too."""
    from cds_service.runtime import tune_worker

    tune_worker()
