"""Trims Synthea transaction Bundles to what the tests and the benchmark read.

    python tests/data/synthea/trim.py SOURCE_FOLDER tests/data/synthea

Keeps each Bundle's Patient, Condition and Procedure entries unchanged (fullUrl, resource,
request) and drops every other entry; references to dropped resources (`encounter`, a
Procedure's `location`) stay as Synthea wrote them, as in a partial export.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KEPT = frozenset({"Patient", "Condition", "Procedure"})


def trim(bundle: dict) -> dict:
    entries = [e for e in bundle["entry"] if e["resource"]["resourceType"] in KEPT]
    return {**bundle, "entry": entries}


def main(source: Path, target: Path) -> None:
    for path in sorted(source.glob("*.json")):
        trimmed = trim(json.loads(path.read_text(encoding="utf-8")))
        text = json.dumps(trimmed, indent=1, ensure_ascii=False) + "\n"
        (target / path.name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
