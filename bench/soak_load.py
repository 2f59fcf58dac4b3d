"""The soak's request mix and its counters (see soak.py)."""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

JSON_HEADERS = {"Content-Type": "application/json"}
FEEDBACK = "/cds-services/vcf-imaging-order-sign/feedback"
FRESH_CONNECTION_EVERY = 50  # requests per keep-alive connection, then a new one


@dataclass
class LoadStats:
    by_kind: dict[str, Counter] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    server_errors: int = 0
    not_json: int = 0
    transport_errors: int = 0
    unexpected: Counter = field(default_factory=Counter)
    transport_details: Counter = field(default_factory=Counter)
    started: float = 0.0
    stopped: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def total(self) -> int:
        return len(self.latencies) + self.transport_errors

    def record(self, kind: str, response: requests.Response, seconds: float, expected) -> None:
        is_json = response.headers.get("Content-Type", "").startswith("application/json")
        with self._lock:
            self.by_kind.setdefault(kind, Counter())[response.status_code] += 1
            self.latencies.append(seconds)
            self.server_errors += response.status_code >= 500
            self.not_json += not is_json and response.request.method != "HEAD"
            if response.status_code not in expected:
                self.unexpected[f"{kind} {response.status_code}"] += 1

    def transport_error(self, kind: str, error: Exception) -> None:
        with self._lock:
            self.transport_errors += 1
            self.by_kind.setdefault(kind, Counter())["transport error"] += 1
            self.transport_details[f"{type(error).__name__}: {str(error)[:160]}"] += 1

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies) or [0.0]
        centiles = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else ordered * 99
        elapsed = max(self.stopped - self.started, 1e-9)
        return {
            "requests": self.total,
            "per_second": self.total / elapsed,
            "by_kind": {kind: dict(statuses) for kind, statuses in self.by_kind.items()},
            "p50_ms": centiles[49] * 1000,
            "p95_ms": centiles[94] * 1000,
            "p99_ms": centiles[98] * 1000,
            "max_ms": ordered[-1] * 1000,
            "server_errors": self.server_errors,
            "not_json": self.not_json,
            "transport_errors": self.transport_errors,
            "unexpected": dict(self.unexpected),
            "transport_details": dict(self.transport_details),
        }


Send = Callable[[requests.Session, random.Random], requests.Response]


@dataclass(frozen=True)
class Kind:
    name: str
    weight: float
    send: Send
    expected: frozenset[int]


class Mix:
    """Valid hook calls from the fixtures, feedback (new and repeated), and bad input."""

    def __init__(self, base_url: str, fixtures: Path) -> None:
        self.base_url = base_url
        self.hook_calls = [_hook_call(path) for path in sorted(fixtures.glob("*/request.json"))]
        self.feedback_acknowledged: set[str] = set()
        self._sent_feedback: list[dict] = []
        self._lock = threading.Lock()
        ok, bad = frozenset({200}), frozenset({400})
        self.kinds = [
            Kind("hook valid", 40, self._hook_valid, ok),
            Kind("hook invalid fhir", 6, self._hook_invalid_fhir, ok),
            Kind("hook wrong types", 6, self._hook_wrong_types, bad),
            Kind("feedback new", 15, self._feedback_new, ok),
            Kind("feedback repeated", 5, self._feedback_repeated, ok),
            Kind("discovery", 5, lambda s, _: s.get(self.base_url + "/cds-services"), ok),
            Kind("openapi", 2, lambda s, _: s.get(self.base_url + "/openapi.json"), ok),
            Kind("not json", 4, lambda s, r: self._raw(s, r, b"{not json"), bad),
            Kind("nested 100000", 2, lambda s, r: self._raw(s, r, b"[" * 100_000), bad),
            Kind("nul", 2, lambda s, r: self._raw(s, r, b'{"hook": "a\\u0000"}'), bad),
            Kind("unknown service", 2, self._unknown_service, frozenset({404})),
            Kind("wrong method", 2, self._wrong_method, frozenset({405})),
            Kind("oversize", 0.5, self._oversize, frozenset({413})),
        ]

    def client(self, stats: LoadStats, deadline: float, cap: int) -> None:
        rng = random.Random(threading.get_ident())
        session = requests.Session()
        weights = [kind.weight for kind in self.kinds]
        sent = 0
        while time.monotonic() < deadline and stats.total < cap:
            kind = rng.choices(self.kinds, weights)[0]
            started = time.perf_counter()
            try:
                response = kind.send(session, rng)
            except requests.RequestException as error:
                stats.transport_error(kind.name, error)
                continue
            stats.record(kind.name, response, time.perf_counter() - started, kind.expected)
            sent += 1
            if sent % FRESH_CONNECTION_EVERY == 0:
                session.close()
                session = requests.Session()
        session.close()

    # -- the request kinds ---------------------------------------------------------------

    def _hook_valid(self, session: requests.Session, rng: random.Random) -> requests.Response:
        path, body = rng.choice(self.hook_calls)
        return session.post(self.base_url + path, json=body, timeout=10)

    def _hook_invalid_fhir(self, session: requests.Session, rng: random.Random):
        path, body = rng.choice(self.hook_calls)
        spoiled = json.loads(json.dumps(body))
        drafts = spoiled["context"]["draftOrders"].get("entry", [])
        for entry in drafts:
            entry["resource"]["code"] = rng.choice([5, "CT", {"coding": "72129"}, [None]])
        for key in rng.sample(sorted(spoiled.get("prefetch") or {}), k=1) if drafts else ():
            spoiled["prefetch"][key] = rng.choice(
                [{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": 1}}]}, None]
            )
        return session.post(self.base_url + path, json=spoiled, timeout=10)

    def _hook_wrong_types(self, session: requests.Session, rng: random.Random):
        path, body = rng.choice(self.hook_calls)
        key = rng.choice(["hook", "hookInstance", "context"])
        return session.post(self.base_url + path, json={**body, key: [1]}, timeout=10)

    def _feedback_new(self, session: requests.Session, _: random.Random) -> requests.Response:
        entry = {
            "card": str(uuid.uuid4()),
            "outcome": "overridden",
            "overrideReason": {"userComment": "soak"},
            "outcomeTimestamp": "2026-11-26T10:00:00Z",
        }
        response = session.post(self.base_url + FEEDBACK, json={"feedback": [entry]}, timeout=10)
        if response.status_code == 200:
            with self._lock:
                self.feedback_acknowledged.add(entry["card"])
                if len(self._sent_feedback) < 1000:
                    self._sent_feedback.append(entry)
        return response

    def _feedback_repeated(self, session: requests.Session, rng: random.Random):
        with self._lock:
            earlier = rng.choice(self._sent_feedback) if self._sent_feedback else None
        if earlier is None:
            return self._feedback_new(session, rng)
        return session.post(self.base_url + FEEDBACK, json={"feedback": [earlier]}, timeout=10)

    def _raw(self, session: requests.Session, rng: random.Random, body: bytes):
        path = rng.choice([self.hook_calls[0][0], FEEDBACK])
        return session.post(self.base_url + path, data=body, headers=JSON_HEADERS, timeout=30)

    def _oversize(self, _: requests.Session, rng: random.Random) -> requests.Response:
        # On its own connection: gunicorn answers 413 with "keep-alive", then closes the
        # connection when the unread body exceeds what it drains (64 KiB), so a client that
        # reused it would see a reset: the sender's problem, not the other clients'.
        with requests.Session() as alone:
            headers = {**JSON_HEADERS, "Connection": "close"}
            path = rng.choice([self.hook_calls[0][0], FEEDBACK])
            return alone.post(
                self.base_url + path, data=b" " * 6_000_000, headers=headers, timeout=30
            )

    def _unknown_service(self, session: requests.Session, _: random.Random):
        return session.post(self.base_url + "/cds-services/no-such-service", json={}, timeout=10)

    def _wrong_method(self, session: requests.Session, rng: random.Random):
        return session.get(self.base_url + rng.choice(self.hook_calls)[0], timeout=10)


def _hook_call(request_file: Path) -> tuple[str, dict]:
    body = json.loads(request_file.read_text())
    return f"/cds-services/vcf-imaging-{body['hook']}", body
