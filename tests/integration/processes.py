"""Servers the tests and benchmarks start as their own processes: a port, the Procfile's
command, and a clean stop."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[2] / "Procfile"
SERVICE_APP = "'cds_service:create_app()'"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen, grace_seconds: float = 15) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within the grace period."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def procfile_command(app: str, port: int, procfile: Path = PROCFILE) -> str:
    """The Procfile's `web:` command serving `app` on 127.0.0.1:`port`, for `sh -c` (as
    Procfile runners run it): the tests and the benchmark run the server as deployed."""
    line = next((x for x in procfile.read_text().splitlines() if x.startswith("web:")), None)
    if line is None or SERVICE_APP not in line or "0.0.0.0:$PORT" not in line:
        raise RuntimeError(f"{procfile}: expected a web: line serving {SERVICE_APP} on $PORT")
    command = line.removeprefix("web:").strip()
    command = command.replace("0.0.0.0:$PORT", f"127.0.0.1:{port}")
    command = command.replace(SERVICE_APP, app)
    if command.startswith("gunicorn "):  # the gunicorn of this interpreter
        command = f"{shlex.quote(sys.executable)} -m {command}"
    return command


def procfile_default_workers(procfile: Path = PROCFILE) -> int:
    """The worker count the Procfile's `${WEB_CONCURRENCY:-N}` falls back to."""
    found = re.search(r"\$\{WEB_CONCURRENCY:-(\d+)\}", procfile.read_text())
    if found is None:
        raise RuntimeError(f"{procfile}: expected --workers ${{WEB_CONCURRENCY:-N}}")
    return int(found.group(1))
