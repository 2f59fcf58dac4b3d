"""A misbehaving FHIR server on 127.0.0.1 (http.server in a thread) for fault tests.

Each search path (`/fhir/Condition`, ...) gets a behaviour: a function that answers the
request. Every request is recorded (path and headers) so tests can check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Behaviour = Callable[["FaultHandler"], None]


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FaultServer:
    base_url: str  # http://127.0.0.1:PORT/fhir
    behaviours: dict[str, Behaviour] = field(default_factory=dict)  # resource type -> answer
    seen: list[Seen] = field(default_factory=list)
    closing: threading.Event = field(default_factory=threading.Event)

    def paths(self) -> list[str]:
        return [request.path for request in self.seen]


class FaultHandler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        fault = self.server.fault
        fault.seen.append(Seen(self.path, dict(self.headers.items())))
        resource_type = urlsplit(self.path).path.rstrip("/").rsplit("/", 1)[-1]
        fault.behaviours.get(resource_type, bundle())(self)

    def send_json(self, status: int, document: Any) -> None:
        self.send_bytes(status, json.dumps(document).encode())

    def send_bytes(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def url(self) -> str:
        return f"http://{self.headers['Host']}{self.path}"

    def wait(self, seconds: float) -> None:
        """Sleep, but wake up when the test ends."""
        self.server.fault.closing.wait(seconds)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fault: FaultServer


@contextmanager
def fault_server() -> Iterator[FaultServer]:
    httpd = _Server(("127.0.0.1", 0), FaultHandler)
    httpd.fault = FaultServer(f"http://127.0.0.1:{httpd.server_address[1]}/fhir")
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield httpd.fault
    finally:
        httpd.fault.closing.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def searchset(resources: list[dict[str, Any]], next_url: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": resource} for resource in resources],
    }
    if next_url:
        document["link"] = [{"relation": "next", "url": next_url}]
    return document


# Behaviours ---------------------------------------------------------------------------


def bundle(*resources: dict[str, Any]) -> Behaviour:
    return lambda handler: handler.send_json(200, searchset(list(resources)))


def status(code: int, body: bytes | None = None) -> Behaviour:
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error"}]}
    payload = json.dumps(outcome).encode() if body is None else body
    return lambda handler: handler.send_bytes(code, payload)


def raw(body: bytes) -> Behaviour:
    return lambda handler: handler.send_bytes(200, body)


def slow(seconds: float, then: Behaviour | None = None) -> Behaviour:
    def answer(handler: FaultHandler) -> None:
        handler.wait(seconds)
        (then or bundle())(handler)

    return answer


def trickle(interval: float, hung_up: list[float] | None = None) -> Behaviour:
    """Headers at once (with a Content-Length), then one byte of body per `interval`: each
    read is quick. `hung_up` receives the time.monotonic() at which the client was found to
    have closed the connection."""

    def answer(handler: FaultHandler) -> None:
        body = json.dumps(searchset([])).encode() + b" " * 1000
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for byte in body:
            if handler.server.fault.closing.is_set():
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                if hung_up is not None:
                    hung_up.append(time.monotonic())
                return
            handler.wait(interval)

    return answer


def self_loop(*resources: dict[str, Any]) -> Behaviour:
    """A Bundle whose `next` link is the URL just requested."""
    return lambda handler: handler.send_json(200, searchset(list(resources), handler.url()))


def endless_pages(resource: Callable[[int], dict[str, Any]]) -> Behaviour:
    """Page n links to page n+1, forever, each page with one new resource."""

    def answer(handler: FaultHandler) -> None:
        query = urlsplit(handler.path).query
        page = int(query.rsplit("page=", 1)[1]) if "page=" in query else 0
        base = handler.url().split("&page=")[0]
        handler.send_json(200, searchset([resource(page)], f"{base}&page={page + 1}"))

    return answer


def all_at_once(parties: int, then: Behaviour, timeout: float = 3.0) -> Behaviour:
    """Answers only when `parties` requests are in flight together; 500 otherwise.

    Proves concurrency without timing anything: sequential requests never meet.
    """
    barrier = threading.Barrier(parties, timeout=timeout)

    def answer(handler: FaultHandler) -> None:
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            status(500)(handler)
            return
        then(handler)

    return answer


def oversized_pages(page_bytes: int, served: list[int] | None = None) -> Behaviour:
    """Every page about `page_bytes` of Conditions no decision reads (hypertension, each
    with a long note) and a `next` link to one more such page, sent with its Content-Length.
    `served` receives the bytes of body each request got out before the client hung up."""
    entries = _filler_entries(page_bytes)

    def answer(handler: FaultHandler) -> None:
        query = urlsplit(handler.path).query
        page = int(query.rsplit("page=", 1)[1]) if "page=" in query else 0
        next_url = f"{handler.url().split('&page=')[0]}&page={page + 1}"
        head = {"resourceType": "Bundle", "type": "searchset"}
        head["link"] = [{"relation": "next", "url": next_url}]
        parts = (json.dumps(head).encode()[:-1] + b', "entry": ', entries, b"}")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(sum(len(part) for part in parts)))
        handler.end_headers()
        sent = _send_until_hung_up(handler, parts)
        if served is not None:
            served.append(sent)

    return answer


def _filler_entries(page_bytes: int) -> bytes:
    note = "Blood pressure reviewed at the routine visit; no change to the plan. " * 14
    one = {
        "resource": {
            "resourceType": "Condition",
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]},
            "note": [{"text": note}],
        }
    }
    count = max(1, page_bytes // (len(json.dumps(one)) + 20))
    entries = [{"resource": {**one["resource"], "id": f"htn-{n}"}} for n in range(count)]
    return json.dumps(entries).encode()


def _send_until_hung_up(handler: FaultHandler, parts: tuple[bytes, ...]) -> int:
    """Writes `parts` a MiB at a time (no copy of a page per request); the bytes sent."""
    sent = 0
    try:
        for part in parts:
            view = memoryview(part)
            for start in range(0, len(view), 1 << 20):
                if handler.server.fault.closing.is_set():
                    return sent
                handler.wfile.write(view[start : start + (1 << 20)])
                sent += len(view[start : start + (1 << 20)])
    except OSError:
        pass  # the client stopped reading and closed the connection
    return sent


def matching_pages(
    total: int, per_page: int, resource: Callable[[int], dict[str, Any]]
) -> Behaviour:
    """`total` resources, `per_page` a page, the n-th being `resource(n)`: pages linked by
    `next` as a server paging a long search answers."""

    def answer(handler: FaultHandler) -> None:
        query = urlsplit(handler.path).query
        page = int(query.rsplit("page=", 1)[1]) if "page=" in query else 0
        first = page * per_page
        resources = [resource(n) for n in range(first, min(total, first + per_page))]
        more = first + per_page < total
        next_url = f"{handler.url().split('&page=')[0]}&page={page + 1}" if more else None
        handler.send_json(200, searchset(resources, next_url))

    return answer


def large_bundle(size: int) -> Behaviour:
    """One page, with no `next` link, of about `size` bytes of Conditions no decision reads."""
    head = b'{"resourceType": "Bundle", "type": "searchset", "entry": '
    return raw(head + _filler_entries(size) + b"}")
