"""The worker processes of a gunicorn the tests started, and their memory, from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def gunicorn_workers(base_url: str) -> list[int]:
    """Pids of the workers of the gunicorn serving `base_url` (http://127.0.0.1:PORT): the
    processes started with that bind whose parent was started with it too (the master)."""
    bind = base_url.removeprefix("http://").encode()
    serving = {pid for pid in _pids() if bind in _read(PROC / str(pid) / "cmdline")}
    return sorted(pid for pid in serving if _status(pid).get("PPid") in {str(p) for p in serving})


def memory_kib(pid: int, field: str) -> int:
    """`VmRSS` (resident now) or `VmHWM` (the most ever resident) of a process, in KiB."""
    return int(_status(pid)[field].split()[0])


def _pids() -> list[int]:
    return [int(entry.name) for entry in PROC.iterdir() if entry.name.isdigit()]


def _status(pid: int) -> dict[str, str]:
    lines = _read(PROC / str(pid) / "status").decode().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process has just exited
        return b""
