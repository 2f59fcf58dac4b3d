"""Start the real service under gunicorn, as the Procfile does, on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import requests

from .processes import SERVICE_APP, free_port, procfile_command, stop

REPO_ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def gunicorn(
    env: dict[str, str], workers: int = 3, options: str = "", log: Path | None = None
) -> Iterator[str]:
    """Yields the base URL of a gunicorn serving `cds_service:create_app()`, started by the
    Procfile's `web:` line (worker class and all) with `workers` workers. `options` (gunicorn
    command-line options) come after the Procfile's and win over them. Its log goes to `log`
    if given (the access log, on stdout, too), else to a temporary file (the access log
    nowhere)."""
    port = free_port()
    served = f"{options} {SERVICE_APP}".strip()
    command = ["sh", "-c", f"exec {procfile_command(served, port)}"]
    # stderr to a file, not a pipe: the audit lines of a long test would fill a pipe nobody
    # reads and stall the workers.
    with open(log, "w+b") if log else tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, **env, "WEB_CONCURRENCY": str(workers)},
            stdout=stderr if log else subprocess.DEVNULL,
            stderr=stderr,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base_url, process, stderr)
            yield base_url
        finally:
            stop(process)


def _wait_until_up(
    base_url: str, process: subprocess.Popen, stderr: IO[bytes], timeout: float = 60.0
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr.seek(0)
            raise RuntimeError(f"gunicorn exited: {stderr.read().decode()[-2000:]}")
        # Workers accept before they finish booting: a slow answer is "not up yet" too.
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up in time")
