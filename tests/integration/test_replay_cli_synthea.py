"""`cds-replay patient` on Synthea exports, and on a small patient who has a prior VCF.

The Synthea patients are tests/data/synthea/ (24 bundles trimmed to Patient, Condition and
Procedure), plus any in $CDS_TEST_EXTRA_SYNTHEA.
"""

from __future__ import annotations

import json
import time

import pytest

from cds_service.replay.cli import main

from ..conftest import SYNTHEA, synthea_bundles

BUNDLES = synthea_bundles()
CT_LUMBAR_WITH_CONTRAST = "72132"
OSTEOPOROTIC_FRACTURE = "443165006"  # Synthea's hip/wrist fractures, never vertebral


def test_all_24_synthea_patients_are_there():
    assert len(list(SYNTHEA.glob("*.json"))) == 24


def bundle_id(path):
    where = "" if path.parent == SYNTHEA else "extra-"
    return where + path.name.split("_")[0]


@pytest.mark.parametrize("bundle", BUNDLES, ids=bundle_id)
def test_no_synthea_patient_gets_a_card_for_ct_lumbar_spine_with_contrast(bundle, tmp_path, capsys):
    saved = tmp_path / "request.json"
    started = time.monotonic()
    arguments = ["patient", str(bundle), "--order", CT_LUMBAR_WITH_CONTRAST, "--json"]
    status = main([*arguments, "--reason", "M54.50", "--save-request", str(saved)])
    elapsed = time.monotonic() - started
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["status"] == 200
    assert report["response"]["cards"] == []
    assert [row["topic"] for row in report["rows"]] == ["no card"]
    assert elapsed < 10, f"{bundle.name} took {elapsed:.1f} s"
    # The patient's whole problem list was sent, its fractures included.
    exported = json.loads(bundle.read_text())
    sent = json.loads(saved.read_text())
    conditions = [e["resource"] for e in sent["prefetch"]["conditions"].get("entry", [])]
    in_export = [e for e in exported["entry"] if e["resource"]["resourceType"] == "Condition"]
    assert len(conditions) == len(in_export)
    assert all(c["subject"]["reference"].startswith("Patient/") for c in conditions)
    if OSTEOPOROTIC_FRACTURE in bundle.read_text():
        codes = {coding["code"] for c in conditions for coding in c["code"]["coding"]}
        assert OSTEOPOROTIC_FRACTURE in codes


def vcf_patient_bundle() -> dict:
    """A transaction Bundle as Synthea writes it, for a patient with an L2 fracture."""
    patient, condition = (
        "0f0e0d0c-0b0a-4908-8706-050403020100",
        "1a1b1c1d-1e1f-4a2b-8c2d-2e2f30313233",
    )
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{patient}",
                "resource": {"resourceType": "Patient", "id": patient, "birthDate": "1948-03-14"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "fullUrl": f"urn:uuid:{condition}",
                "resource": {
                    "resourceType": "Condition",
                    "id": condition,
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "code": {
                        "coding": [
                            {
                                "system": "http://hl7.org/fhir/sid/icd-10-cm",
                                "code": "M80.08XA",
                                "display": "Age-related osteoporosis with current pathological "
                                "fracture, vertebra(e), initial encounter for fracture",
                            }
                        ]
                    },
                    "bodySite": [{"text": "L2"}],
                    "subject": {"reference": f"urn:uuid:{patient}"},
                    "onsetDateTime": "2024-10-28",
                },
                "request": {"method": "POST", "url": "Condition"},
            },
        ],
    }


@pytest.fixture
def vcf_patient(tmp_path):
    path = tmp_path / "vcf-patient.json"
    path.write_text(json.dumps(vcf_patient_bundle()))
    return path


def test_a_patient_with_a_prior_vcf_is_warned_about_contrast(vcf_patient, capsys):
    status = main(["patient", str(vcf_patient), "--order", CT_LUMBAR_WITH_CONTRAST])
    out = capsys.readouterr().out
    assert status == 0
    assert out.splitlines()[0].split()[:3] == ["scenario", "order", "topic"]
    assert "ContrastNotIndicated" in out
    assert "1 card(s)" in out
    (summary,) = [line for line in out.splitlines() if line.startswith("  [")]
    assert summary.startswith("  [warning] ")


def test_order_sign_rates_every_order(vcf_patient, capsys):
    arguments = ["patient", str(vcf_patient), "--hook", "order-sign", "--json"]
    arguments += ["--order", "72131", "--order", CT_LUMBAR_WITH_CONTRAST, "--reason", "M54.50"]
    assert main(arguments) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [row["rating"] for row in rows] == ["usually-appropriate", "usually-not-appropriate"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--order", "CT lumbar"], "neither CPT"),
        (["--order", "72131", "--reason", "back pain"], "neither ICD-10-CM"),
        (["--order", "72131", "--patient", "someone-else"], "no Patient with id 'someone-else'"),
    ],
)
def test_unusable_input_exits_2_with_the_reason(vcf_patient, capsys, arguments, message):
    assert main(["patient", str(vcf_patient), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_a_file_that_is_not_json_exits_2(tmp_path, capsys):
    path = tmp_path / "export.json"
    path.write_text("<Bundle/>")
    assert main(["patient", str(path), "--order", "72131"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
