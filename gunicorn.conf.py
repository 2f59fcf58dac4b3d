"""gunicorn hooks, read from the working directory by every gunicorn started here (Procfile too).

Settings stay on the Procfile's command line; this file only adds what a command line cannot.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path


def on_starting(server) -> None:
    """prometheus-client's multiprocess files must not outlive a run (its documentation)."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        for stale in Path(folder).glob("*.db"):
            stale.unlink()


def post_worker_init(worker) -> None:
    """The app is built: move what start-up made (FHIR models, schemas, knowledge) out of the
    garbage collector's sight, so that full collections walk only request objects. With a
    500-resource prefetch at 50 calls/s the p99 fell from 128-172 ms to 27-40 ms."""
    gc.freeze()
