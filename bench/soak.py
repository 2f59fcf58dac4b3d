"""Soak: one minute of mixed valid and invalid calls against gunicorn on loopback.

    python bench/soak.py                   # 60 s, the Procfile's workers, SQLite in a temp folder
    python bench/soak.py --postgres        # same against a private PostgreSQL cluster
    python bench/soak.py --seconds 300 --json bench/results/soak.json

Starts the service as the Procfile does (gevent workers) on a free 127.0.0.1 port, warms it
up, then runs client threads until the time is up (bounded in time and in request count).
Passes when there was no 5xx and no non-JSON answer, every feedback entry answered 200 is in
the database exactly once, no worker restarted, and each worker's RSS at the end is within
the allowed growth of its RSS after warm-up. Exit status 0 on pass, 1 on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import requests
import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.soak_load import LoadStats, Mix  # noqa: E402
from tests.integration.processes import (  # noqa: E402
    SERVICE_APP,
    free_port,
    procfile_command,
    procfile_default_workers,
    stop,
)

MiB = 1024 * 1024


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    with (
        tempfile.TemporaryFile() as log,
        _database(args) as database_url,
        _gunicorn(database_url, args.workers, log) as (url, pid),
    ):
        mix = Mix(url, REPO_ROOT / "fixtures")
        _run_clients(mix, LoadStats(), args.clients, args.warmup, args.max_requests)
        workers = _worker_pids(pid)
        before = {worker: _rss(worker) for worker in workers}
        stats = LoadStats()
        _run_clients(mix, stats, args.clients, args.seconds, args.max_requests)
        after = {worker: _rss(worker) for worker in _worker_pids(pid)}
        stored = _stored_feedback(database_url)
        errors = _logged_errors(log)
    verdict = _judge(stats, mix, stored, before, after, args)
    if errors:
        verdict.append(f"{len(errors)} ERROR lines in the service log, first: {errors[0][:200]}")
    _print(stats, mix, stored, before, after, verdict, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = stats.summary() | {"verdict": verdict, "rss_before": before, "rss_after": after}
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    return 0 if not verdict else 1


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured load time")
    parser.add_argument("--warmup", type=float, default=8.0, help="load before RSS is sampled")
    parser.add_argument(
        "--workers", type=int, default=procfile_default_workers(), help="gunicorn workers"
    )
    parser.add_argument("--clients", type=int, default=8, help="client threads")
    parser.add_argument("--max-requests", type=int, default=300_000, help="hard cap per phase")
    parser.add_argument("--rss-growth-mib", type=float, default=8.0, help="allowed per worker")
    parser.add_argument("--database-url", help="default: a SQLite file in a temp folder")
    parser.add_argument("--postgres", action="store_true", help="a private PostgreSQL cluster")
    parser.add_argument("--json", type=Path, help="also write the results here")
    return parser.parse_args(argv)


@contextlib.contextmanager
def _database(args: argparse.Namespace) -> Iterator[str]:
    if args.database_url:
        yield args.database_url
    elif args.postgres:
        from tests.integration.postgres_server import fresh_database, postgres_server

        with postgres_server() as server, fresh_database(server) as url:
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="vcf-soak-") as folder:
            yield f"sqlite:///{Path(folder) / 'feedback.sqlite3'}"


@contextlib.contextmanager
def _gunicorn(database_url: str, workers: int, log: IO[bytes]) -> Iterator[tuple[str, int]]:
    """The Procfile's command, bound to loopback only; yields (base URL, master pid)."""
    port = free_port()
    command = ["sh", "-c", f"exec {procfile_command(SERVICE_APP, port)}"]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CDS_LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(workers),
    }
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, process)
        yield base_url, process.pid
    finally:
        stop(process)


def _logged_errors(log: IO[bytes]) -> list[str]:
    """ERROR lines of the service and of gunicorn (worker timeouts, crashes), tracebacks."""
    log.seek(0)
    lines = log.read().decode(errors="replace").splitlines()
    return [line for line in lines if "ERROR" in line or line.startswith("Traceback")]


def _wait_until_up(base_url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        with contextlib.suppress(requests.RequestException):
            if requests.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise SystemExit("gunicorn did not come up in time")


def _run_clients(mix: Mix, stats: LoadStats, clients: int, seconds: float, cap: int) -> None:
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=mix.client, args=(stats, deadline, cap), daemon=True)
        for _ in range(clients)
    ]
    stats.started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    stats.stopped = time.monotonic()


def _worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(int(pid) for pid in children)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _stored_feedback(database_url: str) -> dict[str, int]:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT card_uuid, COUNT(*) FROM feedback GROUP BY 1"))
        stored = {card: count for card, count in rows}
    engine.dispose()
    return stored


def _judge(stats, mix, stored, before, after, args) -> list[str]:
    problems = []
    if stats.server_errors:
        problems.append(f"{stats.server_errors} answers were 5xx")
    if stats.not_json:
        problems.append(f"{stats.not_json} answers were not JSON")
    if stats.unexpected:
        problems.append(f"answers with an unexpected status: {dict(stats.unexpected)}")
    if stats.transport_errors:
        details = ", ".join(f"{n}x {e}" for e, n in stats.transport_details.most_common(3))
        problems.append(f"{stats.transport_errors} requests failed in transport: {details}")
    lost = mix.feedback_acknowledged - stored.keys()
    doubled = [card for card, count in stored.items() if count > 1]
    if lost:
        problems.append(f"{len(lost)} acknowledged feedback entries are not in the database")
    if doubled:
        problems.append(f"{len(doubled)} feedback entries were stored more than once")
    if set(before) != set(after):
        problems.append(f"workers changed during the run: {sorted(before)} -> {sorted(after)}")
    limit = args.rss_growth_mib * MiB
    for pid in set(before) & set(after):
        if after[pid] - before[pid] > limit:
            grown = (after[pid] - before[pid]) / MiB
            problems.append(f"worker {pid} RSS grew {grown:.1f} MiB (allowed {limit / MiB:.1f})")
    return problems


def _print(stats, mix, stored, before, after, verdict, args) -> None:
    summary = stats.summary()
    print(f"soak: {args.seconds:.0f} s, {args.workers} workers, {args.clients} clients")
    print(f"requests: {summary['requests']} ({summary['per_second']:.0f}/s)")
    for kind, statuses in sorted(summary["by_kind"].items()):
        print(f"  {kind:<22} {statuses}")
    print(f"latency ms: p50 {summary['p50_ms']:.1f}  p95 {summary['p95_ms']:.1f}  "
          f"p99 {summary['p99_ms']:.1f}  max {summary['max_ms']:.1f}")  # fmt: skip
    print(f"feedback: {len(mix.feedback_acknowledged)} distinct entries acknowledged, "
          f"{len(stored)} stored")  # fmt: skip
    for pid in sorted(before):
        grown = (after.get(pid, 0) - before[pid]) / MiB
        print(f"  worker {pid}: RSS {before[pid] / MiB:.1f} -> {after.get(pid, 0) / MiB:.1f} MiB "
              f"({grown:+.1f})")  # fmt: skip
    print("PASS" if not verdict else "FAIL:\n  " + "\n  ".join(verdict))


if __name__ == "__main__":
    sys.exit(main())
