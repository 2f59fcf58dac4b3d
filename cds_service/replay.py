"""Fixture replay: send each `FOLDER/<scenario>/request.json` and compare with `expected.json`.

The test suite and the `cds-replay` command share this code, so fixtures stay the single
source for both. Responses are compared after `normalize`, which numbers every uuid by its
first appearance: cards get fresh uuids on every call, but their structure must not change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.registry import SERVICES

UUID_PATTERN = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
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
        return self.status == 200 and self.expected is not None and (
            normalize(self.response) == normalize(self.expected)
        )


Sender = Callable[[str, dict[str, Any]], tuple[int, dict[str, Any]]]


def load_scenarios(folder: Path) -> list[Scenario]:
    scenarios = []
    for request_path in sorted(folder.glob("*/request.json")):
        request = json.loads(request_path.read_text())
        scenarios.append(Scenario(request_path.parent.name, request_path.parent, request))
    return scenarios


def replay(scenarios: list[Scenario], send: Sender) -> Iterator[Result]:
    for scenario in scenarios:
        status, response = send(f"/cds-services/{scenario.service_id}", scenario.request)
        yield Result(scenario, status, response, scenario.expected())


def normalize(response: Any) -> Any:
    """The response with each distinct uuid replaced by its order of first appearance."""
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
            return UUID_PATTERN.sub(number, value)
        return value

    return walk(response)


def write_expected(result: Result) -> None:
    text = json.dumps(normalize(result.response), indent=2, ensure_ascii=False) + "\n"
    result.scenario.expected_path.write_text(text)
