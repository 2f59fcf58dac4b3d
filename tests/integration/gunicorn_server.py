"""Start the real service under gunicorn, as the Procfile does, on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import requests

from .processes import SERVICE_APP, free_port, procfile_command, stop

REPO_ROOT = Path(__file__).resolve().parents[2]
_APP_BUILT = b"vcf-imaging-cds ready:"  # logged by each worker once its app is built


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


class GunicornInstance:
    """One deployment instance on a port of its own, which a test may kill (`kill -9` of the
    master and its workers, as a crashed host or an OOM kill leaves it) and start again on
    the same port, behind the same balancer. Its log (stderr) is appended to `log_path`
    across restarts."""

    def __init__(
        self, env: dict[str, str], log_path: Path, workers: int = 2, options: str = ""
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        served = f"{options} {SERVICE_APP}".strip()
        self._command = ["sh", "-c", f"exec {procfile_command(served, self.port)}"]
        # Metrics in a folder beside the log: gunicorn.conf.py's private one would outlive a kill.
        metrics = log_path.with_name(f"{log_path.stem}-metrics")
        metrics.mkdir(exist_ok=True)
        self._env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
            **env,
            "WEB_CONCURRENCY": str(workers),
        }
        self._workers = workers
        self._process: subprocess.Popen | None = None
        self._log_start = 0

    def start(self, wait: bool = True) -> None:
        """Start it; with `wait`, return once every worker has built the app (the service
        logs that at INFO: keep CDS_LOG_LEVEL at INFO or below)."""
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self._command,
                cwd=REPO_ROOT,
                env=self._env,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,  # its own process group: `kill` reaches the workers
            )
        if wait:
            self.wait_until_up()

    def wait_until_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self.log_path.open("rb") as log:
            _wait_until_up(self.base_url, self._running(), log, timeout)
            # One worker answering is not all of them: the others may still be building the
            # app, and a test that stops the database now would make their boot fail.
            while self._booted_workers(log) < self._workers:
                if time.monotonic() > deadline or self._running().poll() is not None:
                    raise RuntimeError(f"not every gunicorn worker booted: {self.log_path}")
                time.sleep(0.2)

    def _booted_workers(self, log: IO[bytes]) -> int:
        log.seek(self._log_start)
        return log.read().count(_APP_BUILT)

    @property
    def pid(self) -> int:
        return self._running().pid

    def worker_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return sorted(int(pid) for pid in children.read_text().split())

    def kill(self) -> None:
        """SIGKILL to the master and every worker at once; nothing gets to clean up."""
        process = self._running()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        self._process = None

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            # A worker left behind (its master gave up, or died first) must not outlive the test.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process = None

    def _running(self) -> subprocess.Popen:
        if self._process is None:
            raise RuntimeError("the instance is not running")
        return self._process
