"""Shared fixtures: an app on a temporary database, its test client, the example payloads."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
# "Today" of every fixture (CDS_REFERENCE_DATE): draft orders without authoredOn count their
# look-backs from it, so golden answers do not change with the calendar.
REFERENCE_DATE = dt.date(2026, 12, 3)
# Everything the tests read lives in the repository; tests/data/README.md says where each
# file comes from and under which licence.
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = DATA / "cds-hooks"
FEEDBACK_SAMPLES = DATA / "feedback"
SANDBOX_JWKS = DATA / "sandbox" / "jwks-public.json"
SYNTHEA = DATA / "synthea"
# A folder of more Synthea bundles (e.g. whole exports rather than the trimmed ones here): the
# realistic-input tests replay them too. Optional; nothing needs it.
EXTRA_SYNTHEA = "CDS_TEST_EXTRA_SYNTHEA"


def load_example(relative: str) -> dict:
    return json.loads((EXAMPLES / relative).read_text())


def load_feedback_sample(name: str) -> dict:
    return json.loads((FEEDBACK_SAMPLES / name).read_text())


def synthea_bundles() -> list[Path]:
    """The repository's Synthea bundles, then every bundle in $CDS_TEST_EXTRA_SYNTHEA."""
    bundles = sorted(SYNTHEA.glob("*.json"))
    extra = os.environ.get(EXTRA_SYNTHEA)
    if extra:
        bundles += sorted(Path(extra).glob("*.json"))
    return bundles


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'feedback.sqlite3'}"


@pytest.fixture
def app(database_url: str):
    settings = Settings(database_url=database_url, reference_date=REFERENCE_DATE)
    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()
