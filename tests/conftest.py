"""Shared fixtures: an app on a temporary database, its test client, the example payloads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from cds_service import create_app
from cds_service.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"
# "Today" of every fixture (CDS_REFERENCE_DATE): draft orders without authoredOn count their
# look-backs from it, so golden answers do not change with the calendar.
REFERENCE_DATE = dt.date(2026, 12, 3)
# shared/ sits beside the project checkout (as in CI); tests that need it say so.
SHARED = REPO_ROOT.parent / "shared"
EXAMPLES = SHARED / "cds-hooks-examples"
# Feedback bodies in Epic's documented shapes (tests/data/feedback/README.md says from where).
FEEDBACK_SAMPLES = Path(__file__).resolve().parent / "data" / "feedback"


def load_example(relative: str) -> dict:
    return json.loads((EXAMPLES / relative).read_text())


def load_feedback_sample(name: str) -> dict:
    return json.loads((FEEDBACK_SAMPLES / name).read_text())


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
