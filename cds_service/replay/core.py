"""Fixture replay: send each `FOLDER/<scenario>/request.json` and compare with `expected.json`.

The test suite and the `cds-replay` command share this code, so fixtures stay the single
source for both. Responses are compared after `normalize`, which numbers every uuid by its
first appearance: cards get fresh uuids on every call, but their structure must not change.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cds_service.registry import SERVICES

UUID_PATTERN = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
# A card's link to its evidence page starts with the base URL the service was called at; the
# golden answers record it as the test client's.
EVIDENCE_LINK = re.compile(r"^https?://[^\s?#]*?(?=/evidence/)")
RECORDED_BASE = "http://localhost"
SERVICE_BY_HOOK = {service.hook: service.id for service in SERVICES}


@dataclass(frozen=True)
class Scenario:
    name: str
    folder: Path
    request: dict[str, Any]

    @property
    def service_id(self) -> str:
        return SERVICE_BY_HOOK[self.request["hook"]]

    @property
    def expected_path(self) -> Path:
        return self.folder / "expected.json"

    def expected(self) -> dict[str, Any] | None:
        if not self.expected_path.exists():
            return None
        return json.loads(self.expected_path.read_text())


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    status: int
    response: dict[str, Any]
    expected: dict[str, Any] | None

    @property
    def passed(self) -> bool:
        return (
            self.status == 200
            and self.expected is not None
            and (normalize(self.response) == normalize(self.expected))
        )


Sender = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


class ReplayError(RuntimeError):
    """The replay itself could not run (service unreachable, unreadable fixture)."""


def load_scenarios(folder: Path) -> list[Scenario]:
    scenarios = []
    for request_path in sorted(folder.glob("*/request.json")):
        try:
            request = json.loads(request_path.read_text())
        except ValueError as error:
            raise ReplayError(f"{request_path}: not valid JSON ({error})") from None
        if not isinstance(request, dict):
            raise ReplayError(f"{request_path}: not a JSON object (a CDS Hooks request)")
        scenarios.append(Scenario(request_path.parent.name, request_path.parent, request))
    return scenarios


def replay(scenarios: list[Scenario], send: Sender) -> Iterator[Result]:
    for scenario in scenarios:
        if scenario.request.get("hook") not in SERVICE_BY_HOOK:
            raise ReplayError(
                f"{scenario.name}: no service answers hook {scenario.request.get('hook')!r}"
            )
        status, response = send(f"/cds-services/{scenario.service_id}", scenario.request)
        yield Result(scenario, status, response, scenario.expected())


def flask_sender(client: Any) -> Sender:
    """Sends through a Flask test client (in-process, as the test suite does)."""

    def send(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = client.post(path, json=body)
        return response.status_code, _json_object(response.get_data(as_text=True))

    return send


def http_sender(base_url: str, session: requests.Session, timeout: tuple[float, float]) -> Sender:
    """Sends to a running service; `timeout` is (connect, read) seconds, as requests takes it."""

    def send(path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        url = base_url.rstrip("/") + path
        try:
            response = session.post(url, json=body, timeout=timeout)
        except requests.RequestException as error:
            raise ReplayError(f"{url}: {type(error).__name__}") from None
        return response.status_code, _json_object(response.text)

    return send


def _json_object(text: str) -> dict[str, Any]:
    """The body as a JSON object; anything else is kept as text so a diff can show it."""
    try:
        body = json.loads(text)
    except ValueError:
        return {"nonJsonBody": text[:2000]}
    return body if isinstance(body, dict) else {"nonObjectBody": body}


def normalize(response: Any) -> Any:
    """The response with each distinct uuid replaced by its order of first appearance, and
    evidence links on the recorded base URL."""
    numbering: dict[str, str] = {}

    def number(match: re.Match[str]) -> str:
        found = match.group(0).lower()
        if found not in numbering:
            numbering[found] = f"00000000-0000-4000-8000-{len(numbering) + 1:012d}"
        return numbering[found]

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: walk(item) for key, item in value.items()}
        if isinstance(value, list):
            return [walk(item) for item in value]
        if isinstance(value, str):
            return UUID_PATTERN.sub(number, EVIDENCE_LINK.sub(RECORDED_BASE, value))
        return value

    return walk(response)


def write_expected(result: Result) -> None:
    text = json.dumps(normalize(result.response), indent=2, ensure_ascii=False) + "\n"
    result.scenario.expected_path.write_text(text)


def unified_diff(result: Result) -> str:
    """The normalized expected and actual answers as a unified diff (keys sorted)."""
    expected = _pretty(result.expected) if result.expected is not None else []
    return "".join(
        difflib.unified_diff(
            expected,
            _pretty(result.response),
            fromfile=f"{result.scenario.name}/expected.json",
            tofile=f"{result.scenario.name} (answer, HTTP {result.status})",
        )
    )


def _pretty(response: Any) -> list[str]:
    text = json.dumps(normalize(response), indent=2, sort_keys=True, ensure_ascii=False)
    return [line + "\n" for line in text.splitlines()]


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Path-by-path list of what differs between two normalized JSON values."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        found: list[str] = []
        for key in [*expected, *(k for k in actual if k not in expected)]:
            where = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{where}: missing (expected {_short(expected[key])})")
            elif key not in expected:
                found.append(f"{where}: unexpected {_short(actual[key])}")
            else:
                found.extend(differences(expected[key], actual[key], where))
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        found = []
        for index in range(max(len(expected), len(actual))):
            where = f"{path}[{index}]"
            if index >= len(actual):
                found.append(f"{where}: missing (expected {_short(expected[index])})")
            elif index >= len(expected):
                found.append(f"{where}: unexpected {_short(actual[index])}")
            else:
                found.extend(differences(expected[index], actual[index], where))
        return found
    if expected != actual:
        return [f"{path or '(whole answer)'}: expected {_short(expected)}, got {_short(actual)}"]
    return []


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"
