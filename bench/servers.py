"""gunicorn started exactly as the Procfile's `web:` line says, and the load generators.

The Procfile line runs through `sh -c` (as Procfile runners do), with `$PORT` a free port,
the bind address narrowed to 127.0.0.1 (load stays on loopback) and, for the floor, the
app replaced by `bench.floor_app:app`. wrk measures the most a server can do; hey sends
an exact number of requests, or requests at a fixed rate.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import requests

from bench.stats import children
from bench.workload import REPO_ROOT
from tests.integration.processes import (
    free_port,
    procfile_command,
    procfile_default_workers,
    stop,
)

FLOOR_APP = "bench.floor_app:app"
LUA_SCRIPT = Path(__file__).with_name("post.lua")


@dataclass(frozen=True)
class Server:
    base_url: str
    master_pid: int

    def workers(self) -> list[int]:
        return children(self.master_pid)


@contextlib.contextmanager
def procfile_gunicorn(app: str, env: dict[str, str]) -> Iterator[Server]:
    port = free_port()
    environment = {**os.environ, "PORT": str(port), **env}
    workers = int(environment.get("WEB_CONCURRENCY") or procfile_default_workers())
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            ["sh", "-c", f"exec {procfile_command(app, port)}"],
            cwd=REPO_ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,  # the access log, as the Procfile writes it
            stderr=log,
        )
        server = Server(f"http://127.0.0.1:{port}", process.pid)
        try:
            _wait_until_up(server, process, log, workers)
            yield server
        finally:
            stop(process, grace_seconds=30)


def _wait_until_up(server: Server, process: subprocess.Popen, log: IO[bytes], workers: int) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"gunicorn exited: {log.read().decode()[-2000:]}")
        with contextlib.suppress(requests.ConnectionError, requests.Timeout):
            up = requests.get(f"{server.base_url}/healthz", timeout=2).status_code == 200
            if up and len(server.workers()) >= workers:
                return
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not come up in time")


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    timeouts: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


def wrk(url: str, body: Path, seconds: float, connections: int) -> WrkResult:
    threads = min(2, connections)
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s",
        "-s", str(LUA_SCRIPT), url,
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, "WRK_BODY_FILE": str(body)},
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("WRK_JSON "))
    figures = json.loads(line.removeprefix("WRK_JSON "))
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        non_2xx=figures["non_2xx"],
        socket_errors=figures["socket_errors"],
        timeouts=figures["timeouts"],
        p50_ms=figures["latency_us"]["p50"] / 1e3,
        p99_ms=figures["latency_us"]["p99"] / 1e3,
    )


@dataclass(frozen=True)
class HeyResult:
    seconds: list[float]  # one response time per request
    statuses: list[int]

    @property
    def failures(self) -> int:
        return sum(1 for status in self.statuses if status != 200)


def hey(
    url: str, body: Path, connections: int, requests_total: int, keepalive: bool = True
) -> HeyResult:
    """`requests_total` requests over `connections` connections, as fast as they are answered
    (without keepalive, a new connection per request).

    hey sends n // c requests per connection: the remainder goes in a second run."""
    remainder = requests_total % connections
    runs = [(connections, requests_total - remainder), (remainder, remainder)]
    results = []
    for parallel, count in runs:
        if count:
            command = [*_hey_command(body), "-c", str(parallel), "-n", str(count)]
            command += [] if keepalive else ["-disable-keepalive"]
            command.append(url)
            done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=True)
            results.append(_hey_result(done.stdout))
    return _merged(results)


def hey_at_rate(url: str, body: Path, rate: float, seconds: float, senders: int) -> HeyResult:
    """About `rate` requests per second for `seconds`, evenly spaced.

    hey's `-q` is a rate per connection whose ticks all start together: one hey with 8
    connections sends bursts of 8. So each sender is its own hey with one connection,
    started 1/rate seconds after the previous one.
    """
    each = [*_hey_command(body), "-c", "1", "-q", f"{rate / senders:.4f}", "-z", f"{seconds:g}s"]
    processes = []
    for _ in range(senders):
        processes.append(
            subprocess.Popen(
                [*each, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
        time.sleep(1 / rate)
    outputs = [process.communicate(timeout=seconds + 120)[0] for process in processes]
    if any(process.returncode for process in processes):
        raise RuntimeError("hey failed")
    return _merged([_hey_result(output) for output in outputs])


def _merged(results: list[HeyResult]) -> HeyResult:
    return HeyResult(
        seconds=[value for result in results for value in result.seconds],
        statuses=[status for result in results for status in result.statuses],
    )


def _hey_command(body: Path) -> list[str]:
    return ["hey", "-m", "POST", "-T", "application/json", "-D", str(body), "-o", "csv", "-t", "30"]


def _hey_result(csv_text: str) -> HeyResult:
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    return HeyResult(
        seconds=[float(row["response-time"]) for row in rows],
        statuses=[int(row["status-code"]) for row in rows],
    )
