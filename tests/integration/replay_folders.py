"""Fixture folders for the `cds-replay` tests: copies of a few project scenarios in tmp_path."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..conftest import FIXTURES

# One order-select with a card, one patient without VCF history (no card), one order-sign.
SCENARIOS = (
    "seed-kyphoplasty-ct-thoracic-with-contrast",
    "trap-no-vcf-history",
    "order-sign-two-spine-orders",
)
CHANGED = SCENARIOS[0]


def copy_scenarios(target: Path, names: tuple[str, ...] = SCENARIOS) -> Path:
    """`target/<name>/request.json` for each name: the requests only, no expected.json."""
    for name in names:
        (target / name).mkdir(parents=True)
        shutil.copyfile(FIXTURES / name / "request.json", target / name / "request.json")
    return target


def change_order_code(folder: Path, name: str = CHANGED, code: str = "72128") -> None:
    """The first draft order recoded (72129 CT thoracic with contrast -> 72128 without)."""
    path = folder / name / "request.json"
    request = json.loads(path.read_text())
    request["context"]["draftOrders"]["entry"][0]["resource"]["code"]["coding"][0]["code"] = code
    path.write_text(json.dumps(request, indent=2))
