"""Helpers for the knowledge tests: a private copy of cards/ and the bad-knowledge edits."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

CARDS = Path(__file__).resolve().parents[3] / "cards"
CASES = Path(__file__).resolve().parent / "bad-knowledge.yaml"
# The value-set rules (ranges, exclusions, vendored expansions) keep their cases apart.
VALUE_SET_CASES = Path(__file__).resolve().parent / "bad-value-sets.yaml"


def copy_cards(tmp_path: Path) -> Path:
    """A copy named `cards`, so messages read "cards/<file>" as for the real folder."""
    target = tmp_path / "cards"
    shutil.copytree(CARDS, target)
    return target


def bad_cases() -> list[dict[str, Any]]:
    return [
        case
        for path in (CASES, VALUE_SET_CASES)
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))
    ]


def apply_case(cards: Path, case: dict[str, Any]) -> None:
    path = cards / case["file"]
    if case.get("remove_file"):
        path.unlink()
        return
    if "text" in case:
        text = path.read_text(encoding="utf-8")
        old, new = case["text"]["old"], case["text"]["new"]
        assert old in text, f"{case['name']}: {old!r} not in {case['file']}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "set" in case:
        _set(data, case["set"]["path"], case["set"]["value"])
    if "delete" in case:
        _delete(data, case["delete"])
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _parent(data: Any, path: str) -> tuple[Any, str | int]:
    *steps, last = path.split(".")
    node = data
    for step in steps:
        node = node[int(step)] if isinstance(node, list) else node[step]
    return node, int(last) if isinstance(node, list) else last


def _set(data: Any, path: str, value: Any) -> None:
    node, key = _parent(data, path)
    node[key] = value


def _delete(data: Any, path: str) -> None:
    node, key = _parent(data, path)
    assert key in node or isinstance(node, list), f"nothing at {path}"
    del node[key]
