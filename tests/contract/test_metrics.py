"""GET /metrics: Prometheus text with per-stage seconds, cards by topic/indicator, responses.

Counters live in the process's default registry and only grow, so every test compares the
numbers before and after its own calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.gunicorn_server import gunicorn

from ..conftest import FIXTURES

SELECT = "vcf-imaging-order-select"
SIGN = "vcf-imaging-order-sign"
STAGES = ("parse", "fetch", "findings", "decision", "render")


def scenario(name: str) -> dict:
    return json.loads((FIXTURES / name / "request.json").read_text())


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, frozenset(labels.items())), 0.0)


def scrape(client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_metrics_are_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"cds_hook_stage_seconds", "cds_cards", "cds_http_responses"} <= names


def test_a_hook_call_with_a_card_is_timed_per_stage_and_its_card_counted(client):
    before = scrape(client)
    answer = client.post(
        f"/cds-services/{SELECT}", json=scenario("seed-kyphoplasty-ct-thoracic-with-contrast")
    )
    after = scrape(client)
    assert answer.status_code == 200
    (card,) = answer.get_json()["cards"]
    for stage in STAGES:
        labels = {"service": SELECT, "stage": stage}
        grew = value(after, "cds_hook_stage_seconds_count", **labels) - value(
            before, "cds_hook_stage_seconds_count", **labels
        )
        assert grew == 1, stage
    card_labels = {
        "service": SELECT,
        "topic": card["source"]["topic"]["code"],
        "indicator": card["indicator"],
    }
    assert card_labels["indicator"] == "warning"
    assert (
        value(after, "cds_cards_total", **card_labels)
        - value(before, "cds_cards_total", **card_labels)
        == 1
    )
    ok = {"endpoint": "cds.invoke", "status": "200"}
    assert (
        value(after, "cds_http_responses_total", **ok)
        - value(before, "cds_http_responses_total", **ok)
        == 1
    )


def test_a_call_without_a_spine_order_counts_no_card_and_reads_no_history(client):
    before = scrape(client)
    answer = client.post(f"/cds-services/{SIGN}", json=scenario("non-spine-order"))
    after = scrape(client)
    assert answer.status_code == 200 and answer.get_json()["cards"] == []
    # The chest CT is rated "no criteria apply" without reading the patient's history.
    (rating,) = answer.get_json()["systemActions"]
    assert "No ACR criteria" in rating["description"]
    parse = {"service": SIGN, "stage": "parse"}
    fetch = {"service": SIGN, "stage": "fetch"}
    count = "cds_hook_stage_seconds_count"
    assert value(after, count, **parse) - value(before, count, **parse) == 1
    assert value(after, count, **fetch) == value(before, count, **fetch)
    cards_before = sum(v for (n, _), v in samples(before).items() if n == "cds_cards_total")
    cards_after = sum(v for (n, _), v in samples(after).items() if n == "cds_cards_total")
    assert cards_after == cards_before


def test_refused_calls_are_counted_by_status_and_never_timed(client):
    before = scrape(client)
    client.post(f"/cds-services/{SELECT}", data=b"{", content_type="application/json")
    client.post("/cds-services/no-such-service", json={})
    after = scrape(client)
    bad = {"endpoint": "cds.invoke", "status": "400"}
    unknown = {"endpoint": "cds.invoke", "status": "404"}
    for labels in (bad, unknown):
        grew = value(after, "cds_http_responses_total", **labels) - value(
            before, "cds_http_responses_total", **labels
        )
        assert grew == 1, labels
    count = "cds_hook_stage_seconds_count"
    timed = {k: v for k, v in samples(after).items() if k[0] == count}
    assert timed == {k: v for k, v in samples(before).items() if k[0] == count}


def test_metrics_hold_no_patient_data(client):
    request = scenario("seed-kyphoplasty-ct-thoracic-with-contrast")
    client.post(f"/cds-services/{SELECT}", json=request)
    text = scrape(client)
    patient_id = request["context"]["patientId"]
    condition = request["prefetch"]["conditions"]["entry"][1]["resource"]
    assert patient_id not in text
    assert condition["code"]["coding"][0]["code"] not in text
    assert request["hookInstance"] not in text


@pytest.mark.integration
def test_gunicorn_workers_add_up_their_samples_in_multiprocess_mode(tmp_path):
    """Calls spread over several worker processes; whichever answers /metrics counts them all."""
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}",
    }
    body = scenario("seed-kyphoplasty-ct-thoracic-with-contrast")
    _leave_samples_of_an_earlier_run(folder)

    def call(_: int) -> int:
        return requests.post(f"{base_url}/cds-services/{SELECT}", json=body, timeout=30).status_code

    calls = 0
    with gunicorn(env, workers=3) as base_url, ThreadPoolExecutor(6) as pool:
        while len(workers_that_timed_a_call(folder)) < 2 and calls < 120:
            assert set(pool.map(call, range(12))) == {200}
            calls += 12
        scrapes = [requests.get(f"{base_url}/metrics", timeout=10).text for _ in range(6)]
    assert len(workers_that_timed_a_call(folder)) >= 2
    fetch = {"service": SELECT, "stage": "fetch"}
    ok = {"endpoint": "cds.invoke", "status": "200"}
    for text in scrapes:
        assert value(text, "cds_hook_stage_seconds_count", **fetch) == calls
        assert value(text, "cds_http_responses_total", **ok) == calls


@pytest.mark.integration
def test_gunicorn_workers_add_up_their_samples_without_being_told_where(tmp_path, monkeypatch):
    """As the Procfile runs it, with no PROMETHEUS_MULTIPROC_DIR: gunicorn.conf.py gives the
    workers a private folder, so /metrics still counts every worker's calls."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'feedback.sqlite3'}"}
    body = scenario("seed-kyphoplasty-ct-thoracic-with-contrast")

    def call(_: int) -> int:  # a new connection each: the workers share the calls
        return requests.post(f"{base_url}/cds-services/{SELECT}", json=body, timeout=30).status_code

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with gunicorn(env, workers=3) as base_url, ThreadPoolExecutor(6) as pool:
        assert set(pool.map(call, range(60))) == {200}
        scrapes = [requests.get(f"{base_url}/metrics", timeout=10).text for _ in range(6)]
    ok = {"endpoint": "cds.invoke", "status": "200"}
    assert [value(text, "cds_http_responses_total", **ok) for text in scrapes] == [60] * 6


def _leave_samples_of_an_earlier_run(folder: Path) -> None:
    """1000 calls counted by a process of an earlier run (gunicorn.conf.py wipes them)."""
    earlier = (
        "from prometheus_client import Counter\n"
        "Counter('cds_http_responses', '', ['endpoint', 'status'])"
        ".labels('cds.invoke', '200').inc(1000)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    subprocess.run([sys.executable, "-c", earlier], env=env, check=True, timeout=60)
    assert list(folder.glob("counter_*.db"))


def workers_that_timed_a_call(folder: Path) -> set[str]:
    """prometheus-client writes one histogram_<pid>.db per process that observed a value."""
    return {path.stem.split("_", 1)[1] for path in folder.glob("histogram_*.db")}
