"""Each suggestion of an issued card is recorded as the change it would make to the order,
whether it is one `update` of the draft or the earlier `delete` + `create`, and nothing about
the patient is kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from cds_service.cdshooks.response import (
    Action,
    ActionType,
    Card,
    Coding,
    SelectionBehavior,
    Source,
    Suggestion,
)
from cds_service.db import create_database_engine, suggestion_issued_table
from cds_service.feedback.issued_cards import record_issued_cards
from cds_service.feedback.suggested_changes import ADDED, CHANGED, SuggestedChange, suggested_change

CT = "CT thoracic spine without IV contrast"
MRI = "MRI thoracic spine without IV contrast"


def service_request(study: str, order_id: str | None = None) -> dict:
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "72128"}]},
        "subject": {"reference": "Patient/seed-78f"},
        "reasonCode": [{"text": "Thoracic back pain"}],
    }
    resource["code"]["text"] = study
    if order_id:
        resource["id"] = order_id
    return resource


def update(study: str) -> Action:
    return Action(ActionType.UPDATE, f"Change to {study}", service_request(study, "ct-t-w"))


def create(study: str) -> Action:
    return Action(ActionType.CREATE, f"Order {study}", service_request(study))


DELETE = Action(ActionType.DELETE, "Remove the draft order", resource_id="ServiceRequest/ct-t-w")


def suggestion(*actions: Action, uuid: str = "s1") -> Suggestion:
    return Suggestion(label="Change the study", uuid=uuid, actions=actions)


@pytest.mark.parametrize(
    ("actions", "expected"),
    [
        ((update(CT),), SuggestedChange(CHANGED, "ServiceRequest/ct-t-w", CT)),
        ((DELETE, create(CT)), SuggestedChange(CHANGED, "ServiceRequest/ct-t-w", CT)),
        (
            (DELETE, create(CT), create(MRI)),
            SuggestedChange(CHANGED, "ServiceRequest/ct-t-w", f"{CT} + {MRI}"),
        ),
        ((create(MRI),), SuggestedChange(ADDED, None, MRI)),
        ((DELETE,), None),
    ],
    ids=["update", "delete-create", "delete-two-creates", "create-only", "delete-only"],
)
def test_every_action_shape_reads_as_the_change_it_makes(actions, expected):
    assert suggested_change(suggestion(*actions)) == expected


def test_an_update_without_an_id_still_counts_as_a_change_of_an_unnamed_order():
    action = Action(ActionType.UPDATE, "Change", service_request(CT))
    assert suggested_change(suggestion(action)) == SuggestedChange(CHANGED, None, CT)


@pytest.fixture
def engine(tmp_path: Path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'feedback.sqlite3'}")
    yield engine
    engine.dispose()


def test_recorded_suggestions_keep_the_change_and_nothing_about_the_patient(engine):
    card = Card(
        uuid="c1",
        summary="IV contrast not indicated",
        indicator="warning",
        source=Source("ACR", topic=Coding("https://example.org/topic", "ContrastNotIndicated")),
        suggestions=(
            suggestion(update(CT), uuid="s-ct"),
            suggestion(create(MRI), uuid="s-mri"),
            suggestion(DELETE, uuid="s-remove-only"),
        ),
        selection_behavior=SelectionBehavior.ANY,
    )

    assert record_issued_cards(engine, "vcf-imaging-order-sign", [card, card]) == 1

    with engine.connect() as connection:
        rows = [tuple(r) for r in connection.execute(sa.select(suggestion_issued_table))]
    assert sorted(rows) == [
        ("s-ct", "c1", CHANGED, "ServiceRequest/ct-t-w", CT),
        ("s-mri", "c1", ADDED, None, MRI),
    ]
    stored = repr(rows)
    assert "seed-78f" not in stored and "Thoracic back pain" not in stored
