"""A fleet on loopback: HAProxy (deploy/haproxy.cfg) in front of two instances of the service,
each started with the Procfile's command, on one private PostgreSQL cluster; signed calls
from a steady load while a worker, an instance and the database are killed in turn.

`tests/integration/test_fleet.py` runs it briefly and asserts its invariants; by hand, for
longer, with the per-fault table printed:

    python -m tests.integration.fleet --seconds 120
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import requests
import sqlalchemy as sa

from tests.trust_support import (
    EHR,
    SigningKey,
    bearer,
    claims,
    es384_key,
    issuer_entry,
    order_sign_request,
    sign,
    write_auth_config,
)

from .gunicorn_server import REPO_ROOT, GunicornInstance
from .postgres_server import (
    PrivateCluster,
    fresh_database,
    missing_server_programs,
    private_cluster,
)
from .processes import free_port, stop

HAPROXY_CONFIG = REPO_ROOT / "deploy" / "haproxy.cfg"
INSTALL_HINT = "Debian: `apt-get install -y haproxy`"
HOOK = "/cds-services/vcf-imaging-order-sign"
FEEDBACK = HOOK + "/feedback"
CLIENT_THREADS = 6
PAUSE_SECONDS = 0.02  # between one client's calls: a steady load, not a saturating one
DATABASE_DOWN_SECONDS = 4.0
RESTART_AFTER_SECONDS = 3.0  # a killed instance is started again this long after
RECOVERED_SECONDS = 3.0  # the last seconds of a fault's window must be all answered
_STAMP = "2026-12-03T10:00:00Z"  # every feedback entry's outcomeTimestamp


def haproxy_program() -> str | None:
    """Debian installs it in /usr/sbin, which a user's PATH may lack."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/sbin")


def missing_haproxy() -> str | None:
    return None if haproxy_program() else f"haproxy not found ({INSTALL_HINT})"


@dataclass(frozen=True)
class Answer:
    """One call as the EHR saw it; times in seconds since the load began."""

    kind: str  # "hook" or "feedback"
    started: float
    ended: float
    status: int | None  # None: no HTTP answer at all (the balancer refused or hung up)
    outcome: bool  # the body is a FHIR OperationOutcome
    from_balancer: bool  # HAProxy's own error page, not the service's
    card: str | None = None  # the feedback entry's card
    # The status line came, the body did not: the process answering was killed mid-answer
    # (the balancer passes an answer on as it comes, it cannot take it back).
    cut_off: bool = False
    error: str | None = None  # the client's exception, if any

    @property
    def succeeded(self) -> bool:
        return self.status == 200 and not self.cut_off


@dataclass
class Fleet:
    cluster: PrivateCluster
    database_url: str
    instances: dict[str, GunicornInstance]
    balancer_url: str
    balancer_log: Path
    key: SigningKey

    def logs(self) -> dict[str, Path]:
        named = {f"instance {name}": i.log_path for name, i in self.instances.items()}
        return {**named, "haproxy": self.balancer_log}

    def stored_cards(self) -> set[str]:
        engine = sa.create_engine(self.database_url, poolclass=sa.NullPool)
        try:
            with engine.connect() as connection:
                query = sa.text("SELECT card_uuid FROM feedback")
                return set(connection.execute(query).scalars())
        finally:
            engine.dispose()


@contextlib.contextmanager
def fleet(folder: Path) -> Iterator[Fleet]:
    """Everything started, both instances in rotation; everything stopped afterwards."""
    key = es384_key()
    config = write_auth_config(folder / "auth.json", [issuer_entry(EHR, [key])])
    balancer_port = free_port()
    balancer_url = f"http://127.0.0.1:{balancer_port}"
    with private_cluster() as cluster, fresh_database(cluster.url) as database_url:
        env = {
            "CDS_AUTH_CONFIG": str(config),
            "DATABASE_URL": database_url,
            "CDS_PUBLIC_BASE_URL": balancer_url,  # the JWT audience: the balancer's address
        }
        options = "--no-control-socket"  # two instances at once: no shared control socket
        instances = {
            name: GunicornInstance(env, folder / f"instance-{name}.log", 2, options)
            for name in ("a", "b")
        }
        try:
            for instance in instances.values():
                instance.start(wait=False)
            for instance in instances.values():
                instance.wait_until_up()
            log = folder / "haproxy.log"
            with _haproxy(balancer_port, instances, log):
                _wait_until_in_rotation(balancer_url, log)
                yield Fleet(cluster, database_url, instances, balancer_url, log, key)
        finally:
            for instance in instances.values():
                instance.stop()


@contextlib.contextmanager
def _haproxy(port: int, instances: dict[str, GunicornInstance], log: Path) -> Iterator[None]:
    env = {
        **os.environ,
        "CDS_LB_BIND": f"127.0.0.1:{port}",
        "CDS_INSTANCE_A": f"127.0.0.1:{instances['a'].port}",
        "CDS_INSTANCE_B": f"127.0.0.1:{instances['b'].port}",
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [haproxy_program() or "haproxy", "-db", "-f", str(HAPROXY_CONFIG)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield
    finally:
        stop(process)


def _wait_until_in_rotation(balancer_url: str, log: Path, timeout: float = 30.0) -> None:
    """Both servers have passed their first checks: ten readiness answers in a row."""
    deadline, in_a_row = time.monotonic() + timeout, 0
    while in_a_row < 10:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the balancer never answered ready: {log.read_text()[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            ok = requests.get(balancer_url + "/readyz", timeout=2).status_code == 200
            in_a_row = in_a_row + 1 if ok else 0
        time.sleep(0.1)


class Load:
    """Client threads, each posting a signed hook call then a signed feedback entry, over
    and over, every call on a fresh connection (as an EHR's many clients do)."""

    def __init__(self, fleet: Fleet, threads: int = CLIENT_THREADS) -> None:
        self._fleet = fleet
        self._stop = threading.Event()
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(threads)]
        self.began = 0.0

    def __enter__(self) -> Load:
        self.began = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def now(self) -> float:
        return time.monotonic() - self.began

    def answers(self) -> list[Answer]:
        with self._lock:
            return sorted(self._answers, key=lambda answer: answer.started)

    def _client(self) -> None:
        while not self._stop.is_set():
            self._call("hook", HOOK, order_sign_request())
            card = str(uuid.uuid4())
            entry = {"card": card, "outcome": "overridden", "outcomeTimestamp": _STAMP}
            self._call("feedback", FEEDBACK, {"feedback": [entry]}, card)
            self._stop.wait(PAUSE_SECONDS)

    def _call(self, kind: str, path: str, body: dict, card: str | None = None) -> None:
        url = self._fleet.balancer_url + path
        token = sign(self._fleet.key, claims(url))
        started = self.now()
        status, outcome, from_balancer, cut_off, error = None, False, False, False, None
        try:
            with requests.post(
                url, json=body, headers=bearer(token), timeout=35, stream=True
            ) as response:
                status, cut_off = response.status_code, True
                outcome, from_balancer = _outcome(response)
                cut_off = False
        except requests.RequestException as exception:
            error = type(exception).__name__
        answer = Answer(
            kind, started, self.now(), status, outcome, from_balancer, card, cut_off, error
        )
        with self._lock:
            self._answers.append(answer)


def _outcome(response: requests.Response) -> tuple[bool, bool]:
    """(an OperationOutcome, written by the balancer rather than the service)"""
    try:
        body = response.json()
    except ValueError:
        return False, False
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return False, False
    diagnostics = " ".join(issue.get("diagnostics", "") for issue in body.get("issue", []))
    return True, "(balancer:" in diagnostics


@dataclass
class Fault:
    name: str
    at: float = 0.0  # seconds since the load began
    until: float = 0.0  # end of its window: the next fault, or the end of the run
    log_begin: dict[str, int] = field(default_factory=dict)  # each log's size at `at`
    log_end: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    restarted_by_test: bool = False
    kills_a_process: bool = False
    worker_pids_kept: bool | None = None  # for faults that must not cost a worker


def run(fleet: Fleet, seconds: float) -> tuple[list[Fault], list[Answer], set[str]]:
    """The load for `seconds`, with a worker kill, an instance kill and restart, and a
    database stop and start at fixed fractions of the run."""
    a = fleet.instances["a"]
    schedule: list[tuple[float, Fault, Callable[[Fault], None]]] = [
        (0.0, Fault("none (warm-up)"), lambda fault: None),
        (
            0.12,
            Fault("kill -9 one worker of instance a", kills_a_process=True),
            lambda fault: _kill_worker(a, fault),
        ),
        (
            0.35,
            Fault("kill -9 instance b, started again", kills_a_process=True),
            lambda fault: _kill_instance(fleet, "b", fault),
        ),
        (0.65, Fault("PostgreSQL stopped (crash) and started"), lambda f: _stop_db(fleet, f)),
    ]
    faults = [fault for _, fault, _ in schedule]
    with Load(fleet) as load:
        for fraction, fault, action in schedule:
            _sleep_until(load, fraction * seconds)
            fault.at, fault.log_begin = load.now(), _sizes(fleet)
            action(fault)
        _sleep_until(load, seconds)
    for fault, following in zip(faults, [*faults[1:], None], strict=True):
        fault.until = following.at if following else load.now()
        fault.log_end = following.log_begin if following else _sizes(fleet)
    return faults, load.answers(), fleet.stored_cards()


def _kill_worker(instance: GunicornInstance, fault: Fault) -> None:
    victim = instance.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    fault.notes.append(f"worker {victim} killed; gunicorn starts another by itself")


def _kill_instance(fleet: Fleet, name: str, fault: Fault) -> None:
    """Kill it, start it again, and return once the balancer sends it calls again."""
    instance = fleet.instances[name]
    instance.kill()
    time.sleep(RESTART_AFTER_SECONDS)
    started = time.monotonic()
    log_start = _size(fleet.balancer_log)
    instance.start()
    ready = time.monotonic() - started
    _wait_for_line(fleet.balancer_log, f"Server instances/{name} is UP", log_start)
    fault.restarted_by_test = True
    fault.notes.append(
        f"started again after {RESTART_AFTER_SECONDS:.0f} s; its workers were ready {ready:.1f} s "
        f"later, back in rotation after {time.monotonic() - started:.1f} s"
    )


def _wait_for_line(log: Path, text: str, offset: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_bytes()[offset:].decode(errors="replace"):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{log.name}: no {text!r} within {timeout:.0f} s")
        time.sleep(0.1)


def _stop_db(fleet: Fleet, fault: Fault) -> None:
    before = {name: i.worker_pids() for name, i in fleet.instances.items()}
    log_start = _size(fleet.balancer_log)
    fleet.cluster.stop("immediate")
    time.sleep(DATABASE_DOWN_SECONDS)
    fleet.cluster.start()
    started = time.monotonic()
    taken_out = fleet.balancer_log.read_bytes()[log_start:].decode(errors="replace")
    for name in fleet.instances:
        if f"Server instances/{name} is DOWN" in taken_out:
            _wait_for_line(fleet.balancer_log, f"Server instances/{name} is UP", log_start)
    fault.notes.append(
        f"down {DATABASE_DOWN_SECONDS:.0f} s; both instances back in rotation "
        f"{time.monotonic() - started:.1f} s after it started"
    )
    time.sleep(RECOVERED_SECONDS)
    after = {name: i.worker_pids() for name, i in fleet.instances.items()}
    fault.worker_pids_kept = before == after


def _sleep_until(load: Load, moment: float) -> None:
    time.sleep(max(0.0, moment - load.now()))


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _sizes(fleet: Fleet) -> dict[str, int]:
    return {name: _size(path) for name, path in fleet.logs().items()}


@dataclass(frozen=True)
class FaultReport:
    name: str
    calls: int
    failed: int
    service_503: int
    balancer_503: int
    cut_off: int  # a 200 or 503 whose body never came: its process was killed meanwhile
    other: int  # anything else but a 200: what must never happen
    longest_gap: float  # seconds without a single successful answer
    feedback_acknowledged: int
    feedback_lost: int
    recovered: bool  # the last seconds of the window: every call answered 200
    kills_a_process: bool
    restarted_by_test: bool
    worker_pids_kept: bool | None
    notes: tuple[str, ...]
    log_lines: tuple[str, ...]


def report(fleet: Fleet, faults: list[Fault], answers: list[Answer], stored: set[str]):
    return [_fault_report(fleet, fault, answers, stored) for fault in faults]


def _fault_report(
    fleet: Fleet, fault: Fault, answers: list[Answer], stored: set[str]
) -> FaultReport:
    # By the time of the answer: a call cut off by a fault belongs to that fault.
    window = [a for a in answers if fault.at <= a.ended < fault.until]
    unavailable = [a for a in window if a.status == 503 and a.outcome and not a.cut_off]
    cut_off = [a for a in window if a.cut_off]
    acknowledged = [a.card for a in window if a.kind == "feedback" and a.succeeded]
    tail = [a for a in window if a.started >= fault.until - RECOVERED_SECONDS]
    others = Counter(
        f"{a.kind}: {a.status or 'no answer'}, {a.error or 'not an OperationOutcome'}"
        for a in window
        if not a.succeeded and a not in unavailable and not a.cut_off
    )
    return FaultReport(
        name=fault.name,
        calls=len(window),
        failed=sum(not a.succeeded for a in window),
        service_503=sum(not a.from_balancer for a in unavailable),
        balancer_503=sum(a.from_balancer for a in unavailable),
        cut_off=len(cut_off),
        other=sum(not a.succeeded for a in window) - len(unavailable) - len(cut_off),
        longest_gap=_longest_gap(answers, fault),
        feedback_acknowledged=len(acknowledged),
        feedback_lost=sum(card not in stored for card in acknowledged),
        recovered=bool(tail) and all(a.succeeded for a in tail),
        kills_a_process=fault.kills_a_process,
        restarted_by_test=fault.restarted_by_test,
        worker_pids_kept=fault.worker_pids_kept,
        notes=(*fault.notes, *(f"{n} x {what}" for what, n in others.items())),
        log_lines=_log_summary(fleet, fault),
    )


def _longest_gap(answers: list[Answer], fault: Fault) -> float:
    """The longest time in the window between two successful answers (the first gap
    reaches back to the last success before the window)."""
    successes = sorted(a.ended for a in answers if a.succeeded)
    before = [t for t in successes if t < fault.at]
    inside = [t for t in successes if fault.at <= t < fault.until]
    points = [before[-1] if before else fault.at, *inside]
    if not inside:
        return fault.until - points[0]
    return max(later - earlier for earlier, later in itertools.pairwise(points))


_TIMESTAMP = re.compile(
    r"^(\[[^\]]+\] \[\d+\] |\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )"  # gunicorn's, the service's
)
_HAPROXY_CALL = re.compile(r"^\S+ \[[^\]]+\] cds instances/(\S+) \S+ (\d+) \S+ - - (\S{4}) ")


def _log_summary(fleet: Fleet, fault: Fault, most: int = 6) -> tuple[str, ...]:
    """What the logs said in the window: each kind of line once, with its count. Audit
    lines and successful calls are left out; numbers become N so that alike lines group."""
    said: Counter[str] = Counter()
    for name, path in fleet.logs().items():
        begin, end = fault.log_begin[name], fault.log_end[name]
        with path.open("rb") as log:
            log.seek(begin)
            text = log.read(end - begin).decode(errors="replace")
        for line in text.splitlines():
            kind = _line_kind(line)
            if kind:
                said[f"{name}: {kind}"] += 1
    return tuple(f"{count} x {kind}" for kind, count in said.most_common(most))


def _line_kind(line: str) -> str | None:
    if not line or line.startswith("{"):  # audit lines: one per call, counted in the table
        return None
    call = _HAPROXY_CALL.match(line)
    if call:
        server, status, termination = call.groups()
        if status == "200" and termination == "----":
            return None  # "SD--" after a 200: the instance died while sending the body
        return f"answered {status} (server {server}, termination {termination})"
    if "[INFO]" in line or " INFO " in line or line.startswith(("[NOTICE]", "[WARNING]")):
        return None  # HAProxy's warnings on stderr repeat its log lines
    return re.sub(r"\d+", "N", _TIMESTAMP.sub("", line)).strip()[:160]


def format_table(reports: list[FaultReport]) -> str:
    header = (
        f"{'fault':40} {'calls':>6} {'failed':>6} {'503 svc':>7} {'503 lb':>6} {'cut off':>7} "
        f"{'other':>5} "
        f"{'longest gap':>11} {'fb acked':>8} {'fb lost':>7}  recovered"
    )
    lines = [header]
    for r in reports:
        recovered = "yes" if r.recovered else "NO"
        if r.restarted_by_test:
            recovered += ", after the test restarted it"
        elif r.worker_pids_kept:
            recovered += ", no worker restarted"
        lines.append(
            f"{r.name:40} {r.calls:>6} {r.failed:>6} {r.service_503:>7} {r.balancer_503:>6} "
            f"{r.cut_off:>7} {r.other:>5} {r.longest_gap:>10.2f}s {r.feedback_acknowledged:>8} "
            f"{r.feedback_lost:>7}  {recovered}"
        )
    for r in reports:
        lines.append(f"\n{r.name}: {'; '.join(r.notes) or 'no fault'}")
        lines += [f"    {line}" for line in r.log_lines] or ["    (no warning or error)"]
    return "\n".join(lines)


def violations(reports: list[FaultReport]) -> list[str]:
    """The invariants: every answer a 200 or a JSON 503; no acknowledged feedback lost;
    each fault recovered from (the database without any worker restarting)."""
    found = []
    for r in reports:
        if r.other:
            found.append(f"{r.name}: {r.other} answers neither 200 nor a JSON 503")
        if r.cut_off and not r.kills_a_process:
            found.append(f"{r.name}: {r.cut_off} answers cut off, yet no process was killed")
        if r.feedback_lost:
            found.append(f"{r.name}: {r.feedback_lost} acknowledged feedback entries lost")
        if not r.recovered:
            found.append(f"{r.name}: not every call answered 200 in its last seconds")
        if r.worker_pids_kept is False:
            found.append(f"{r.name}: workers restarted")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the load")
    arguments = parser.parse_args(argv)
    for missing in (missing_haproxy(), missing_server_programs()):
        if missing:
            print(missing, file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="vcf-fleet-") as folder, fleet(Path(folder)) as f:
        reports = report(f, *run(f, arguments.seconds))
    print(format_table(reports))
    problems = violations(reports)
    for problem in problems:
        print(f"VIOLATED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
