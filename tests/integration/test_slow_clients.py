"""Slow, idle and malformed clients against the service as the Procfile serves it (issue 19 §1
and §6): idle sockets do not starve other callers, a client has a bounded time to send its
request, a worker works on a bounded number of calls, gunicorn's own refusals are JSON and
its log lines cannot be forged."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from .gunicorn_server import gunicorn

REPO_ROOT = Path(__file__).resolve().parents[2]
SEED_CALL = (
    REPO_ROOT / "fixtures/seed-kyphoplasty-ct-thoracic-with-contrast/request.json"
).read_bytes()
HOOK = "/cds-services/vcf-imaging-order-select"


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """Two workers, as deployed, with a short read timeout and small limits for the tests."""
    folder = tmp_path_factory.mktemp("slow-clients")
    log = folder / "gunicorn.log"
    env = {
        "DATABASE_URL": f"sqlite:///{folder / 'feedback.sqlite3'}",
        "CDS_REQUEST_READ_TIMEOUT": "1.5",
        "CDS_MAX_REQUEST_BYTES": "200000",
    }
    with gunicorn(env, workers=2, log=log) as base_url:
        yield base_url, log


def _address(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def _answer(sock: socket.socket, timeout: float) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(timeout)
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    return received


def _status_and_outcome(answer: bytes) -> tuple[int, dict]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"content-type: application/json" in head.lower(), head
    return status, json.loads(body)


def test_two_hundred_idle_connections_do_not_stop_other_callers(service):
    base_url, _ = service
    idle = []
    try:
        for _ in range(200):
            sock = socket.create_connection(_address(base_url))
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")  # and then nothing
            idle.append(sock)
        for _ in range(5):
            started = time.monotonic()
            assert requests.get(f"{base_url}/healthz", timeout=1).status_code == 200
            answer = requests.post(
                base_url + HOOK,
                data=SEED_CALL,
                headers={"Content-Type": "application/json"},
                timeout=1,
            )
            assert answer.status_code == 200 and answer.json()["cards"]
            assert time.monotonic() - started < 1
    finally:
        for sock in idle:
            sock.close()


def test_an_idle_connection_gets_408_and_is_closed(service):
    base_url, _ = service
    started = time.monotonic()
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        status, outcome = _status_and_outcome(_answer(sock, timeout=10))
    assert status == 408
    assert outcome["issue"][0]["code"] == "timeout"
    assert time.monotonic() - started < 5


def test_a_body_trickled_byte_by_byte_is_cut_at_the_read_timeout(service):
    """Each byte comes well within any per-read timeout: only a total bound stops it."""
    base_url, _ = service
    head = f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    started = time.monotonic()
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(f"{head}Content-Length: 1000\r\n\r\n".encode())
        with contextlib.suppress(OSError):
            for _ in range(40):
                sock.sendall(b" ")
                time.sleep(0.2)
                if time.monotonic() - started > 6:
                    break
        status, _ = _status_and_outcome(_answer(sock, timeout=10))
    assert status == 408
    assert time.monotonic() - started < 4


def test_an_oversized_chunked_body_gets_413(service):
    base_url, _ = service
    chunk = b"x" * 50_000
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(
            f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        for _ in range(5):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        status, outcome = _status_and_outcome(_answer(sock, timeout=10))
    assert status == 413
    assert "CDS_MAX_REQUEST_BYTES" in outcome["issue"][0]["diagnostics"]


def test_a_chunked_body_within_the_limit_is_answered(service):
    base_url, _ = service
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(
            f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(SEED_CALL), SEED_CALL)
        )
        head, _, body = _answer(sock, timeout=10).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(body)["cards"]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"NOT A REQUEST LINE\r\n\r\n", 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n", 431),
    ],
    ids=["malformed", "uri-too-long", "header-too-large"],
)
def test_gunicorns_own_refusals_are_json_operation_outcomes(service, request_bytes, status):
    base_url, _ = service
    with socket.create_connection(_address(base_url)) as sock:
        sock.sendall(request_bytes)
        answered, outcome = _status_and_outcome(_answer(sock, timeout=10))
    assert answered == status
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"


def test_a_basic_auth_user_name_cannot_forge_an_access_log_line(service):
    base_url, log = service
    forged = '127.0.0.1 - admin [03/Dec/2026:00:00:00 +0000] "GET /forged-line HTTP/1.1" 200 0'
    credentials = base64.b64encode(f"bob\n{forged}\r\n:secret".encode()).decode()
    answer = requests.get(
        f"{base_url}/healthz", headers={"Authorization": f"Basic {credentials}"}, timeout=5
    )
    assert answer.status_code == 200
    time.sleep(0.5)  # the access log line is written after the answer
    lines = log.read_text(errors="replace").splitlines()
    assert not [line for line in lines if line.startswith("127.0.0.1 - admin")]
    assert [line for line in lines if "bob\\n127.0.0.1 - admin" in line]


def test_a_worker_busy_with_its_calls_answers_503_and_health_still_answers(tmp_path):
    """One worker, one call slot: a caller that holds the slot (sending its body slowly)
    makes the next call wait, then get 503 with Retry-After; GETs do not wait."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "CDS_WORKER_CALLS": "1",
        "CDS_HOOK_DEADLINE": "1",
        "CDS_REQUEST_READ_TIMEOUT": "4",
    }
    with gunicorn(env, workers=1) as base_url:
        holder = socket.create_connection(_address(base_url))
        holder.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n".encode())
        time.sleep(0.3)
        started = time.monotonic()
        health = requests.get(f"{base_url}/healthz", timeout=2)
        assert health.status_code == 200 and time.monotonic() - started < 0.5
        busy = requests.post(
            base_url + HOOK, data=SEED_CALL, headers={"Content-Type": "application/json"}
        )
        assert busy.status_code == 503
        assert busy.headers["Retry-After"] == "1"
        assert busy.json()["issue"][0]["code"] == "transient"
        holder.close()
        time.sleep(0.3)
        after = requests.post(
            base_url + HOOK, data=SEED_CALL, headers={"Content-Type": "application/json"}
        )
        assert after.status_code == 200


def test_calls_beyond_the_slots_wait_for_one_rather_than_fail(tmp_path):
    """Slots bound the work, not the callers: three calls at once on one slot all answer."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
        "CDS_WORKER_CALLS": "1",
    }
    statuses: list[int] = []
    with gunicorn(env, workers=1) as base_url:

        def call() -> None:
            answer = requests.post(
                base_url + HOOK, data=SEED_CALL, headers={"Content-Type": "application/json"}
            )
            statuses.append(answer.status_code)

        callers = [threading.Thread(target=call) for _ in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(timeout=30)
    assert statuses == [200, 200, 200]
