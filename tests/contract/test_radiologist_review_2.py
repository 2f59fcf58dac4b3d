"""What a second radiologist review (20 cases of its own, fixtures/review2-*) found wrong,
asserted apart from the goldens: each assertion failed before its fix."""

from __future__ import annotations

import re

from cds_service.replay.core import load_scenarios

from ..conftest import FIXTURES

BY_NAME = {scenario.name: scenario for scenario in load_scenarios(FIXTURES)}


def answer(client, fixture: str) -> dict:
    scenario = BY_NAME[fixture]
    return client.post(f"/cds-services/{scenario.service_id}", json=scenario.request).get_json()


def test_a_vcf_named_in_words_under_z87_310_brings_the_cauda_equina_card(client):
    """Was: no card at all for new urinary retention, saddle numbness and breast cancer."""
    (card,) = answer(client, "review2-c16-redflags-freetext-only")["cards"]
    assert card["indicator"] == "critical"
    assert "L2 compression fracture" in card["detail"]
    assert card["suggestions"][0]["label"] == "MRI lumbar spine without and with IV contrast"


def test_new_paraparesis_with_cancer_is_critical(client):
    (card,) = answer(client, "review2-c15-lung-ca-plus-leg-weakness-ct")["cards"]
    assert card["indicator"] == "critical"


def test_ct_and_mri_of_one_region_signed_together_are_each_told_of_the_other(client):
    cards = answer(client, "review2-c21-sign-two-orders")["cards"]
    assert len(cards) == 2
    assert all("Also being signed:" in card["detail"] for card in cards)


def test_a_whole_spine_ct_for_low_back_pain_is_narrowed_to_the_lumbar_spine(client):
    (card,) = answer(client, "review2-c22-whole-spine-ct-for-lbp")["cards"]
    assert card["suggestions"][0]["label"] == "CT lumbar spine without IV contrast"
    assert "10-30 mSv" in card["detail"]


def test_an_augmentation_orders_page_suggests_the_mri_first_not_ct(client):
    (card,) = answer(client, "review2-c17-kypho-no-mri")["cards"]
    page = client.get(card["links"][0]["url"].removeprefix("http://localhost")).get_data(True)
    preferred = re.search(r'class="marker preferred">[^<]*</span>\s*([^<]+)<', page)
    assert preferred is not None
    assert preferred.group(1).strip().startswith("MRI")
    assert "without IV contrast" in preferred.group(1)
    assert "treatment, not imaging" in page
