"""Schemas of the code-related knowledge files: manifest, value sets, orderables, text patterns."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from cds_service.decision.model import Contrast, FindingKind, Modality, SpineRegion, Study
from cds_service.knowledge.labels import contrasts_for
from cds_service.knowledge.model import (
    KNOWN_SYSTEMS,
    CodeEntry,
    OrderableCode,
    RedFlagPattern,
    Source,
    TextPatterns,
    ValueSet,
)
from cds_service.knowledge.regex_screen import fixed_words, screen
from cds_service.knowledge.schema_fields import (
    NAME,
    TEXT,
    Keyed,
    Regex,
    enum_field,
    source_ids,
)

_SYSTEM = validate.OneOf(KNOWN_SYSTEMS)
_HTTP_URL = {"schemes": {"http", "https"}, "require_tld": False}
# Contrast values a text pattern must be able to recognise (the others are never written).
_SPOKEN_CONTRASTS = (
    Contrast.WITHOUT_AND_WITH,
    Contrast.WITHOUT,
    Contrast.WITH,
    Contrast.INTRATHECAL,
)


class SourceSchema(Schema):
    title = fields.String(required=True, validate=TEXT)
    url = fields.Url(load_default=None, **_HTTP_URL)


class ManifestSchema(Schema):
    knowledge_version = fields.String(required=True, validate=TEXT)
    system_base = fields.Url(required=True, **_HTTP_URL)
    mri_lookback_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    sources = Keyed(
        SourceSchema(),
        keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9_-]+$")),
        required=True,
    )

    @validates_schema
    def _base_without_slash(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["system_base"].endswith("/"):
            raise ValidationError("Must not end with '/'.", "system_base")

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data["sources"] = {
            key: Source(id=key, title=value["title"], url=value["url"])
            for key, value in data["sources"].items()
        }
        return data


class CodeEntrySchema(Schema):
    code = fields.String(load_default=None, validate=TEXT)
    prefix = fields.String(load_default=None, validate=TEXT)
    display = fields.String(required=True, validate=TEXT)
    region = enum_field(SpineRegion, load_default=None)

    @validates_schema
    def _code_or_prefix(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data["code"] is None) == (data["prefix"] is None):
            raise ValidationError("Give exactly one of code or prefix.")


class CodeGroupSchema(Schema):
    system = fields.String(required=True, validate=_SYSTEM)
    sources = source_ids(load_default=())
    entries = fields.List(
        fields.Nested(CodeEntrySchema), required=True, validate=validate.Length(min=1)
    )


class ValueSetSchema(Schema):
    id = fields.String(required=True, validate=NAME)
    title = fields.String(required=True, validate=TEXT)
    sources = source_ids(required=True, validate=validate.Length(min=1))
    codes = fields.List(
        fields.Nested(CodeGroupSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _no_duplicates(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[tuple[str, str | None, str | None]] = set()
        for g, group in enumerate(data["codes"]):
            for e, entry in enumerate(group["entries"]):
                key = (group["system"], entry["code"], entry["prefix"])
                if key in seen:
                    which = entry["code"] or entry["prefix"]
                    raise ValidationError(f"{which} is listed twice.", f"codes.{g}.entries.{e}")
                seen.add(key)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> ValueSet:
        entries = tuple(
            CodeEntry(system=group["system"], **entry)
            for group in data["codes"]
            for entry in group["entries"]
        )
        return ValueSet(
            id=data["id"], title=data["title"], sources=tuple(data["sources"]), entries=entries
        )


class OrderableSchema(Schema):
    code = fields.String(required=True, validate=TEXT)
    display = fields.String(required=True, validate=TEXT)
    modality = enum_field(Modality, required=True)
    contrast = enum_field(Contrast, required=True)
    regions = fields.List(enum_field(SpineRegion), load_default=list)
    whole_body = fields.Boolean(load_default=False)

    @validates_schema
    def _contrast_fits(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_contrast(data["modality"], data["contrast"])


def check_contrast(modality: Modality, contrast: Contrast) -> None:
    allowed = contrasts_for(modality)
    if contrast not in allowed:
        raise ValidationError(
            f"{modality.value} takes contrast {', '.join(c.value for c in allowed)}.", "contrast"
        )


class OrderableGroupSchema(Schema):
    system = fields.String(required=True, validate=_SYSTEM)
    sources = source_ids(load_default=())
    codes = fields.List(
        fields.Nested(OrderableSchema), required=True, validate=validate.Length(min=1)
    )


class OrderablesSchema(Schema):
    groups = fields.List(
        fields.Nested(OrderableGroupSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _no_duplicates(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[tuple[str, str]] = set()
        for g, group in enumerate(data["groups"]):
            for c, item in enumerate(group["codes"]):
                key = (group["system"], item["code"])
                if key in seen:
                    raise ValidationError(
                        f"{item['code']} is listed twice.", f"groups.{g}.codes.{c}"
                    )
                seen.add(key)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> dict[tuple[str, str], OrderableCode]:
        return {
            (group["system"], item["code"]): OrderableCode(
                system=group["system"],
                code=item["code"],
                display=item["display"],
                study=Study(
                    modality=item["modality"],
                    contrast=item["contrast"],
                    regions=frozenset(item["regions"]),
                    whole_body=item["whole_body"],
                ),
            )
            for group in data["groups"]
            for item in group["codes"]
        }


class ModalityPatternSchema(Schema):
    modality = enum_field(Modality, required=True)
    pattern = Regex(required=True)


class ContrastPatternSchema(Schema):
    contrast = enum_field(Contrast, required=True, validate=validate.OneOf(_SPOKEN_CONTRASTS))
    pattern = Regex(required=True)


class RegionPatternSchema(Schema):
    region = enum_field(SpineRegion, required=True)
    pattern = Regex(required=True)


# The red flags read from words (decision/text_flags.py), and the one kind that can be severe.
_TEXT_FLAG_KINDS = (FindingKind.MALIGNANCY, FindingKind.NEUROLOGIC_DEFICIT, FindingKind.INFECTION)
_SEVERE_KIND = FindingKind.NEUROLOGIC_DEFICIT
_CUES = ("negation", "suspicion", "affirmation", "negation_after", "suspicion_after")


class RedFlagPatternSchema(Schema):
    pattern = Regex(required=True)
    severe = fields.Boolean(load_default=False)
    suspected = fields.Boolean(load_default=False)


def _per_flag_kind(values: fields.Field, **kwargs: Any) -> Keyed:
    """A mapping keyed by the red-flag kinds (malignancy, neurologic_deficit, infection)."""
    kinds = fields.String(validate=validate.OneOf([kind.value for kind in _TEXT_FLAG_KINDS]))
    return Keyed(values, keys=kinds, **kwargs)


def _cue_list() -> fields.List:
    return fields.List(Regex(), required=True, validate=validate.Length(min=1))


def any_of(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    """One case-insensitive pattern matching where any of the patterns does, in their order."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)


class TextPatternsSchema(Schema):
    modality = fields.List(fields.Nested(ModalityPatternSchema), required=True)
    contrast = fields.List(fields.Nested(ContrastPatternSchema), required=True)
    regions = fields.List(fields.Nested(RegionPatternSchema), required=True)
    whole_body = Regex(required=True)
    non_spine = Regex(required=True)
    spine = Regex(required=True)
    reason_regions = fields.List(fields.Nested(RegionPatternSchema), required=True)

    red_flags = _per_flag_kind(
        fields.List(fields.Nested(RedFlagPatternSchema), validate=validate.Length(min=1)),
        require=[kind.value for kind in _TEXT_FLAG_KINDS],
        required=True,
    )
    not_red_flags = _per_flag_kind(fields.List(Regex()), load_default=dict)
    negation = _cue_list()
    suspicion = _cue_list()
    affirmation = _cue_list()
    negation_after = _cue_list()
    suspicion_after = _cue_list()
    cue_window = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=20))

    @validates_schema
    def _red_flags_fit(self, data: dict[str, Any], **kwargs: Any) -> None:
        for kind, patterns in data["red_flags"].items():
            for index, item in enumerate(patterns):
                where = f"red_flags.{kind}.{index}"
                if item["severe"] and kind != _SEVERE_KIND.value:
                    raise ValidationError(
                        f"Only {_SEVERE_KIND.value} red flags can be severe.", f"{where}.severe"
                    )
                if fixed_words(item["pattern"].pattern) is None:
                    raise ValidationError(
                        "Every match must contain a fixed word of at least two letters "
                        "(the pre-check searches for it).",
                        f"{where}.pattern",
                    )

    @validates_schema
    def _cues_combine(self, data: dict[str, Any], **kwargs: Any) -> None:
        for name in _CUES:
            try:
                any_of(data[name])
            except re.error as error:
                raise ValidationError(
                    f"The patterns cannot be combined into one: {error}.", name
                ) from None

    @validates_schema
    def _complete(self, data: dict[str, Any], **kwargs: Any) -> None:
        for name, key, members in (
            ("modality", "modality", tuple(Modality)),
            ("contrast", "contrast", _SPOKEN_CONTRASTS),
            ("regions", "region", tuple(SpineRegion)),
            ("reason_regions", "region", tuple(SpineRegion)),
        ):
            covered = {item[key] for item in data[name]}
            missing = [member.value for member in members if member not in covered]
            if missing:
                raise ValidationError(f"No pattern for: {', '.join(missing)}.", name)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> TextPatterns:
        return TextPatterns(
            modality=tuple((item["modality"], item["pattern"]) for item in data["modality"]),
            regions=tuple((item["region"], item["pattern"]) for item in data["regions"]),
            whole_body=data["whole_body"],
            contrast=tuple((item["contrast"], item["pattern"]) for item in data["contrast"]),
            non_spine=data["non_spine"],
            spine=data["spine"],
            reason_regions=tuple(
                (item["region"], item["pattern"]) for item in data["reason_regions"]
            ),
            red_flags=tuple(
                RedFlagPattern(
                    FindingKind(kind), item["pattern"], item["severe"], item["suspected"]
                )
                for kind, items in data["red_flags"].items()
                for item in items
            ),
            not_red_flags=tuple(
                (FindingKind(kind), pattern)
                for kind, patterns in data["not_red_flags"].items()
                for pattern in patterns
            ),
            negation=any_of(data["negation"]),
            suspicion=any_of(data["suspicion"]),
            affirmation=any_of(data["affirmation"]),
            negation_after=any_of(data["negation_after"]),
            suspicion_after=any_of(data["suspicion_after"]),
            cue_window=data["cue_window"],
            red_flag_screen=screen(
                [item["pattern"].pattern for items in data["red_flags"].values() for item in items]
            )
            or re.compile(""),
        )
