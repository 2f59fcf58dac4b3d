"""The shared replay core: loading scenarios, comparing answers, explaining differences."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cds_service.replay.core import (
    ReplayError,
    Result,
    Scenario,
    differences,
    http_sender,
    load_scenarios,
    normalize,
    replay,
    unified_diff,
)

CARD_UUID_A = "0b0c5a4e-4b7e-4c55-9a38-2f7d7a9f1e01"
CARD_UUID_B = "7f3e1d2c-9a8b-4c7d-8e6f-5a4b3c2d1e0f"


def answer(topic: str, card_uuid: str) -> dict:
    return {"cards": [{"uuid": card_uuid, "summary": "s", "source": {"topic": {"code": topic}}}]}


def result(expected: dict | None, response: dict, status: int = 200) -> Result:
    scenario = Scenario("seed", Path("fixtures/seed"), {"hook": "order-select"})
    return Result(scenario, status, response, expected)


def test_fresh_uuids_do_not_count_as_a_difference():
    same = result(
        answer("UsuallyAppropriate", CARD_UUID_A), answer("UsuallyAppropriate", CARD_UUID_B)
    )
    assert same.passed
    assert unified_diff(same) == ""


def test_a_changed_topic_is_shown_by_path_and_as_a_unified_diff():
    changed = result(
        answer("UsuallyAppropriate", CARD_UUID_A), answer("ContrastNotIndicated", CARD_UUID_B)
    )
    assert not changed.passed
    assert differences(normalize(changed.expected), normalize(changed.response)) == [
        'cards[0].source.topic.code: expected "UsuallyAppropriate", got "ContrastNotIndicated"'
    ]
    diff = unified_diff(changed)
    assert diff.startswith("--- seed/expected.json\n+++ seed (answer, HTTP 200)\n")
    assert '-          "code": "UsuallyAppropriate"' in diff
    assert '+          "code": "ContrastNotIndicated"' in diff


def test_missing_and_unexpected_parts_are_named():
    expected = {"cards": [{"summary": "a"}, {"summary": "b"}], "systemActions": []}
    actual = {"cards": [{"summary": "a"}], "extension": {"x": 1}}
    assert differences(expected, actual) == [
        'cards[1]: missing (expected {"summary": "b"})',
        "systemActions: missing (expected [])",
        'extension: unexpected {"x": 1}',
    ]


def test_an_error_answer_never_passes_even_when_the_body_matches():
    assert not result({"cards": []}, {"cards": []}, status=412).passed


def test_without_expected_json_a_scenario_fails():
    assert not result(None, {"cards": []}).passed


def test_a_request_that_is_not_json_is_named(tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "request.json").write_text("{not json")
    with pytest.raises(ReplayError, match=r"broken/request\.json: not valid JSON"):
        load_scenarios(tmp_path)


def test_a_request_that_is_not_an_object_is_named(tmp_path):
    (tmp_path / "listed").mkdir()
    (tmp_path / "listed" / "request.json").write_text("[]")
    with pytest.raises(ReplayError, match=r"listed/request\.json: not a JSON object"):
        load_scenarios(tmp_path)


def test_a_hook_no_service_answers_is_named():
    scenario = Scenario("patient-view", Path("x"), {"hook": "patient-view"})
    with pytest.raises(ReplayError, match="no service answers hook 'patient-view'"):
        list(replay([scenario], lambda path, body: (200, {})))


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.path.endswith("/slow"):
            time.sleep(1.0)
        body = (
            b"<html>oops</html>"
            if self.path.endswith("/html")
            else json.dumps({"seen": self.path}).encode()
        )
        self.send_response(200 if self.path.endswith("/ok") else 503)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # the slow answer meets a client that already gave up: expected here


@pytest.fixture
def loopback_service() -> Iterator[str]:
    server = _QuietServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_http_sender_posts_to_the_base_url_plus_the_service_path(loopback_service):
    with requests.Session() as session:
        send = http_sender(loopback_service, session, (1.0, 2.0))
        assert send("/cds-services/ok", {}) == (200, {"seen": "/cds-services/ok"})
        assert send("/cds-services/html", {}) == (503, {"nonJsonBody": "<html>oops</html>"})


def test_the_http_sender_gives_up_after_its_read_timeout(loopback_service):
    with requests.Session() as session:
        send = http_sender(loopback_service, session, (1.0, 0.2))
        started = time.monotonic()
        with pytest.raises(ReplayError, match="ReadTimeout"):
            send("/cds-services/slow", {})
        assert time.monotonic() - started < 0.9


def test_an_unreachable_service_is_a_replay_error():
    with requests.Session() as session:
        send = http_sender("http://127.0.0.1:9", session, (0.5, 0.5))
        with pytest.raises(ReplayError, match=r"127\.0\.0\.1:9/cds-services/x: ConnectionError"):
            send("/cds-services/x", {})
