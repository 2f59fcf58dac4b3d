"""The benchmark measures what it says: realistic requests that get their card, the Procfile's
gunicorn on loopback, and percentiles that were measured."""

from __future__ import annotations

import shlex

import pytest

from bench.servers import FLOOR_APP
from bench.stats import percentile
from bench.workload import SERVICE_PATH, hook_request, prefetched_resources, synthea_history
from cds_service.fhir.parse import build_history
from tests.integration.fhir_helpers import knowledge
from tests.integration.processes import procfile_command

from ..conftest import SYNTHEA


@pytest.fixture(scope="module")
def history():
    return synthea_history(SYNTHEA)


@pytest.mark.parametrize("resources", [10, 500])
def test_a_benchmark_request_holds_that_many_resources_and_gets_its_card(
    client, history, resources
):
    request = hook_request(resources, history)
    patient = f"Patient/{request['context']['patientId']}"
    entries = [
        entry["resource"]
        for key in ("conditions", "procedures")
        for entry in request["prefetch"][key]["entry"]
    ]
    assert prefetched_resources(request) == resources == len(entries)
    assert len({(r["resourceType"], r["id"]) for r in entries}) == resources
    assert all(r["subject"] == {"reference": patient} for r in entries)
    answer = client.post(SERVICE_PATH, json=request)
    assert answer.status_code == 200
    assert len(answer.get_json()["cards"]) == 1


def test_most_of_a_long_history_does_not_matter_to_the_decision(history):
    request = hook_request(500, history)
    found = {
        kind: [e["resource"] for e in request["prefetch"][key]["entry"]]
        for kind, key in (("Condition", "conditions"), ("Procedure", "procedures"))
    }
    kept = build_history(found, knowledge())
    assert len(kept.conditions) + len(kept.procedures) < 50  # of 500


def test_the_procfile_command_serves_on_loopback_with_the_procfile_settings():
    command = shlex.split(procfile_command(FLOOR_APP, 8123))
    assert command[command.index("--bind") + 1] == "127.0.0.1:8123"
    assert command[-1] == FLOOR_APP
    assert command[command.index("--worker-class") + 1] == "cds_service.web.serving.HookWorker"
    assert "0.0.0.0" not in " ".join(command)


def test_percentiles_are_values_that_were_measured():
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
