"""Loading `cards/` into one frozen `Knowledge`, validated at start-up.

Any problem raises `KnowledgeError` naming the file and the field path: a bad knowledge file
stops the service with a clear message, never a wrong card (DESIGN.md).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from marshmallow import Schema, ValidationError

from cds_service.knowledge.checks import (
    check_cited_sources,
    check_pitfalls,
    check_summary_lengths,
    check_value_sets,
)
from cds_service.knowledge.errors import KnowledgeError
from cds_service.knowledge.model import Knowledge, Source, ValueSet
from cds_service.knowledge.schema_codes import (
    Expansion,
    ExpansionSchema,
    ImagingOrdersSchema,
    ManifestSchema,
    OrderablesSchema,
    TextPatternsSchema,
    ValueSetSchema,
    ValueSetSpec,
    build_value_set,
)
from cds_service.knowledge.schema_fields import flatten
from cds_service.knowledge.schema_guidance import CardTextsSchema, VariantsSchema

MANIFEST = "manifest.yaml"
VALUE_SETS = "value-sets"
ORDERABLES = "orderables.yaml"
IMAGING_ORDERS = "imaging-orders.yaml"
TEXT_PATTERNS = "text-patterns.yaml"
VARIANTS = "variants.yaml"
CARD_TEXTS = "card-texts.yaml"


def load_knowledge(directory: Path) -> Knowledge:
    directory = Path(directory)
    manifest = _load(directory, MANIFEST, ManifestSchema())
    register: dict[str, Source] = manifest["sources"]
    value_sets = _load_value_sets(directory, register)
    wording = _load(directory, CARD_TEXTS, CardTextsSchema(), register)
    check_summary_lengths(_name(directory, CARD_TEXTS), wording)
    check_pitfalls(_name(directory, CARD_TEXTS), wording)
    return Knowledge(
        version=manifest["knowledge_version"],
        system_base=manifest["system_base"],
        sources=register,
        value_sets=value_sets,
        orderables=_load(directory, ORDERABLES, OrderablesSchema(), register),
        imaging_orders=_load(directory, IMAGING_ORDERS, ImagingOrdersSchema(), register),
        text_patterns=_load(directory, TEXT_PATTERNS, TextPatternsSchema(), register),
        variants=_load(directory, VARIANTS, VariantsSchema(), register),
        wording=wording,
        mri_lookback_days=manifest["mri_lookback_days"],
        new_deficit_days=manifest["new_deficit_days"],
    )


def _load_value_sets(directory: Path, register: dict[str, Source]) -> dict[str, ValueSet]:
    folder = directory / VALUE_SETS
    files = sorted(folder.glob("*.yaml")) if folder.is_dir() else []
    value_sets: dict[str, ValueSet] = {}
    expansions: dict[str, Expansion] = {}  # each vendored file is read once
    for path in files:
        relative = f"{VALUE_SETS}/{path.name}"
        spec: ValueSetSpec = _load(directory, relative, ValueSetSchema(), register)
        name = _name(directory, relative)
        for g, expansion_file in spec.expansions:
            if expansion_file not in expansions:
                expansions[expansion_file] = _load_expansion(
                    directory, f"{VALUE_SETS}/{expansion_file}", name, f"codes.{g}"
                )
        try:
            value_set = build_value_set(spec, expansions)
        except ValidationError as error:
            path_, message = sorted(flatten(error.messages))[0]
            raise KnowledgeError(name, path_, message) from None
        if value_set.id in value_sets:
            raise KnowledgeError(name, "id", f"{value_set.id} is defined twice.")
        value_sets[value_set.id] = value_set
    check_value_sets(_name(directory, VALUE_SETS), value_sets)
    return value_sets


def _load_expansion(directory: Path, relative: str, cited_by: str, group: str) -> Expansion:
    """A vendored expansion (JSON); a missing file is reported where the YAML names it."""
    path = directory / relative
    if not path.is_file():
        raise KnowledgeError(cited_by, f"{group}.include_expansion", f"File {relative} is missing.")
    name = _name(directory, relative)
    try:
        data = json.loads(_read_text(path, name))
    except ValueError as error:
        raise KnowledgeError(name, "", f"Not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise KnowledgeError(name, "", "Must be an object at the top level.")
    return _validated(name, ExpansionSchema(), data)


def _load(
    directory: Path, relative: str, schema: Schema, register: dict[str, Source] | None = None
) -> Any:
    name = _name(directory, relative)
    data = _read_yaml(directory / relative, name)
    loaded = _validated(name, schema, data)
    if register is not None:
        check_cited_sources(name, data, register)
    return loaded


def _validated(name: str, schema: Schema, data: Any) -> Any:
    try:
        return schema.load(data)
    except ValidationError as error:
        problems = sorted(flatten(error.messages))
        path, message = problems[0]
        more = "".join(f"\n{name}: {p}: {m}" for p, m in problems[1:])
        raise KnowledgeError(name, path, message + more) from None


def _name(directory: Path, relative: str) -> str:
    """How messages name a file: relative to the knowledge folder's parent, never absolute."""
    return f"{directory.name}/{relative}"


def _read_yaml(path: Path, name: str) -> Any:
    if not path.is_file():
        raise KnowledgeError(name, "", "File is missing.")
    try:
        data = yaml.load(_read_text(path, name), Loader=_StrictLoader)
    except yaml.YAMLError as error:
        raise KnowledgeError(
            name, "", f"Not valid YAML{_where(error)}: {_problem(error)}"
        ) from None
    if not isinstance(data, dict):
        raise KnowledgeError(name, "", "Must be a mapping at the top level.")
    return data


def _read_text(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise KnowledgeError(
            name,
            "",
            f"Not UTF-8 text: byte 0x{error.object[error.start]:02x} at offset {error.start}.",
        ) from None
    except OSError as error:
        raise KnowledgeError(name, "", f"Cannot be read ({error.strerror}).") from None


def _where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _problem(error: yaml.YAMLError) -> str:
    """The problem without PyYAML's marks (they would print the file's absolute path)."""
    parts = (getattr(error, "context", None), getattr(error, "problem", None))
    return "; ".join(part for part in parts if part) or type(error).__name__


# libyaml's parser when PyYAML was built with it (several times faster); same safe constructor.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """Safe loading that rejects a key given twice (PyYAML would silently keep the last one)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
