"""Hook calls with no prefetch, served as the Procfile serves them (gunicorn, its worker class).

The service then searches the EHR's FHIR server itself. A worker waiting on that server must
keep serving other calls: here one worker gets four such calls at once, from a real
sekmet-fhir whose answers a proxy holds back, and every call gets the cards the same request
with its prefetch gets.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from cds_service.fhir.prefetch import SEARCHES
from tests.integration.delaying_proxy import delaying_proxy
from tests.integration.fhir_helpers import hook_body, long_history
from tests.integration.fhir_server import running_sekmet
from tests.integration.gunicorn_server import gunicorn

pytestmark = pytest.mark.integration

SELECT = "/cds-services/vcf-imaging-order-select"
CALLS_AT_ONCE = 4
HELD_BACK_SECONDS = 0.5  # long enough that the four calls' searches overlap


def cards_as_read(answer: requests.Response) -> list[tuple[str, str, list[str]]]:
    """What a clinician reads of each card (ids and UUIDs differ between calls)."""
    assert answer.status_code == 200, answer.text[:300]
    return [
        (card["indicator"], card["summary"], [s["label"] for s in card.get("suggestions", [])])
        for card in answer.json()["cards"]
    ]


def post(base_url: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(base_url + SELECT, json=body, timeout=30)


def test_one_worker_answers_several_calls_that_wait_on_the_fhir_server(tmp_path):
    data = long_history()
    delays = {search.resource_type: HELD_BACK_SECONDS for search in SEARCHES}
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'service.sqlite3'}"}
    with (
        running_sekmet(tmp_path) as fhir,
        delaying_proxy(fhir.base_url, delays) as proxy,
        gunicorn(env, workers=1) as base_url,
    ):
        fhir.load_patient(data.patient_id, data.prefetch())
        expected = cards_as_read(post(base_url, hook_body(data.patient_id, data.prefetch())))
        fetching = hook_body(data.patient_id, fhir_server=proxy.base_url, token=fhir.token)
        with ThreadPoolExecutor(CALLS_AT_ONCE) as pool:
            answers = list(pool.map(lambda _: post(base_url, fetching), range(CALLS_AT_ONCE)))
    assert expected  # the long history gets cards: the comparison below means something
    assert [cards_as_read(answer) for answer in answers] == [expected] * CALLS_AT_ONCE
    # One call searches three resource types at once; more at once means calls overlapped.
    assert proxy.most_in_flight > len(SEARCHES)
