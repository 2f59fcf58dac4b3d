"""Schemas of the code-related knowledge files: manifest, value sets, orderables, text patterns."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from cds_service.knowledge.labels import contrasts_for
from cds_service.knowledge.model import (
    KNOWN_SYSTEMS,
    CodeEntry,
    Exclusion,
    ImagingOrders,
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
from cds_service.vocabulary import (
    RED_FLAG_KINDS,
    Contrast,
    FindingKind,
    Modality,
    SpineRegion,
    Study,
)


@dataclass(frozen=True)
class ExpansionCode:
    system: str
    code: str
    display: str  # without a SNOMED CT semantic tag


@dataclass(frozen=True)
class Expansion:
    """A vendored expansion file, read once per start-up."""

    name: str
    codes: tuple[ExpansionCode, ...]
    provenance: str = ""  # the published value set, its version and where it was read


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
    new_deficit_days = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
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
    range_from = fields.String(data_key="from", load_default=None, validate=TEXT)
    range_to = fields.String(data_key="to", load_default=None, validate=TEXT)
    display = fields.String(required=True, validate=TEXT)
    region = enum_field(SpineRegion, load_default=None)

    @validates_schema
    def _code_prefix_or_range(self, data: dict[str, Any], **kwargs: Any) -> None:
        given = [data[key] is not None for key in ("code", "prefix", "range_from")]
        if sum(given) != 1:
            raise ValidationError("Give exactly one of code, prefix or from/to.")
        low, high = data["range_from"], data["range_to"]
        if (low is None) != (high is None):
            missing = "to" if high is None else "from"
            raise ValidationError("A range needs both from and to.", missing)
        if low is not None and high is not None:
            if len(low) != len(high):
                raise ValidationError(f"{low} and {high} must have the same length.", "to")
            if high < low:
                raise ValidationError(f"{high} comes before {low}.", "to")


class CodeGroupSchema(Schema):
    """Codes of one system: listed as `entries`, or taken from a vendored expansion."""

    system = fields.String(required=True, validate=_SYSTEM)
    sources = source_ids(load_default=())
    entries = fields.List(
        fields.Nested(CodeEntrySchema), load_default=None, validate=validate.Length(min=1)
    )
    # A JSON file under value-sets/ (e.g. vsac/multiple-myeloma.json): every code of `system`
    # in it is a member, with the expansion's display.
    include_expansion = fields.String(
        load_default=None, validate=validate.Regexp(r"^[a-z0-9_-]+/[a-z0-9_.-]+\.json$")
    )
    # Spine regions of expansion members: {lumbar: [code, ...], ...}
    regions = Keyed(
        fields.List(fields.String(validate=TEXT), validate=validate.Length(min=1)),
        keys=enum_field(SpineRegion),
        load_default=dict,
    )

    @validates_schema
    def _entries_or_expansion(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data["entries"] is None) == (data["include_expansion"] is None):
            raise ValidationError("Give exactly one of entries or include_expansion.")
        if data["regions"] and data["include_expansion"] is None:
            raise ValidationError("Only a group with include_expansion takes regions.", "regions")


class ExclusionEntrySchema(Schema):
    code = fields.String(load_default=None, validate=TEXT)
    prefix = fields.String(load_default=None, validate=TEXT)
    display = fields.String(required=True, validate=TEXT)

    @validates_schema
    def _code_or_prefix(self, data: dict[str, Any], **kwargs: Any) -> None:
        if (data["code"] is None) == (data["prefix"] is None):
            raise ValidationError("Give exactly one of code or prefix.")


class ExclusionGroupSchema(Schema):
    """Codes that never match the value set, with the reason why (e.g. skin BCC/SCC)."""

    system = fields.String(required=True, validate=_SYSTEM)
    reason = fields.String(required=True, validate=TEXT)
    sources = source_ids(load_default=())
    entries = fields.List(
        fields.Nested(ExclusionEntrySchema), required=True, validate=validate.Length(min=1)
    )


class ValueSetSchema(Schema):
    """One value-set file. Loads to a `ValueSetSpec`: `build_value_set` adds the expansions."""

    id = fields.String(required=True, validate=NAME)
    title = fields.String(required=True, validate=TEXT)
    sources = source_ids(required=True, validate=validate.Length(min=1))
    codes = fields.List(
        fields.Nested(CodeGroupSchema), required=True, validate=validate.Length(min=1)
    )
    exclude = fields.List(fields.Nested(ExclusionGroupSchema), load_default=list)

    @validates_schema
    def _no_duplicates(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[tuple[str, str | None, str | None, str | None]] = set()
        for g, group in enumerate(data["codes"]):
            for e, entry in enumerate(group["entries"] or ()):
                key = (group["system"], entry["code"], entry["prefix"], entry["range_from"])
                if key in seen:
                    which = entry["code"] or entry["prefix"] or entry["range_from"]
                    raise ValidationError(f"{which} is listed twice.", f"codes.{g}.entries.{e}")
                seen.add(key)

    @validates_schema
    def _listed_codes_not_excluded(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A code listed by hand and excluded too is a contradiction, not a choice."""
        probe = ValueSet("probe", "probe", ("probe",), (), _exclusions(data))
        for g, group in enumerate(data["codes"]):
            for e, entry in enumerate(group["entries"] or ()):
                if entry["code"] is not None and probe.is_excluded(group["system"], entry["code"]):
                    raise ValidationError(
                        f"{entry['code']} is listed and excluded.", f"codes.{g}.entries.{e}"
                    )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> ValueSetSpec:
        return ValueSetSpec(data)


def _exclusions(data: dict[str, Any]) -> tuple[Exclusion, ...]:
    return tuple(
        Exclusion(system=group["system"], reason=group["reason"], **entry)
        for group in data["exclude"]
        for entry in group["entries"]
    )


class ValueSetSpec:
    """A validated value-set file whose `include_expansion` files are not read yet."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.id: str = data["id"]
        self.expansions = tuple(
            (g, group["include_expansion"])
            for g, group in enumerate(data["codes"])
            if group["include_expansion"] is not None
        )


def build_value_set(spec: ValueSetSpec, expansions: dict[str, Expansion]) -> ValueSet:
    """The value set of a file, its expansion groups filled from `expansions` (by file name).

    Raises ValidationError keyed by the value-set file's field path.
    """
    data = spec.data
    excluded = _exclusions(data)
    probe = ValueSet("probe", "probe", ("probe",), (), excluded)
    entries: list[CodeEntry] = []
    for g, group in enumerate(data["codes"]):
        system = group["system"]
        if group["entries"] is not None:
            for entry in group["entries"]:
                low, high = entry["range_from"], entry["range_to"]
                entries.append(
                    CodeEntry(
                        system=system,
                        display=entry["display"],
                        code=entry["code"],
                        prefix=entry["prefix"],
                        region=entry["region"],
                        code_range=(low, high) if low is not None and high is not None else None,
                        sources=tuple(group["sources"]),
                    )
                )
            continue
        expansion = expansions[group["include_expansion"]]
        members = {c.code: c for c in expansion.codes if c.system == system}
        if not members:
            raise _at(
                f"codes.{g}.include_expansion",
                f"{group['include_expansion']} has no code of {system}.",
            )
        region_of: dict[str, SpineRegion] = {}
        for region, codes in group["regions"].items():
            for code in codes:
                if code not in members:
                    raise _at(
                        f"codes.{g}.regions.{region.value}",
                        f"{code} is not in {group['include_expansion']}.",
                    )
                region_of[code] = region
        entries.extend(
            CodeEntry(
                system=system,
                code=member.code,
                display=member.display,
                region=region_of.get(member.code),
                sources=tuple(group["sources"]),
                expansion=expansion.provenance,
            )
            for member in members.values()
            if not probe.is_excluded(system, member.code)
        )
    return ValueSet(
        id=data["id"],
        title=data["title"],
        sources=tuple(data["sources"]),
        entries=tuple(entries),
        excluded=excluded,
    )


def _at(path: str, message: str) -> ValidationError:
    """An error keyed by its field path, as the schemas' errors are."""
    return ValidationError({path: [message]})


class ExpansionProvenanceSchema(Schema):
    repository = fields.Url(required=True, **_HTTP_URL)
    commit = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{40}$"))
    path = fields.String(required=True, validate=TEXT)


class ExpansionCodeSchema(Schema):
    system = fields.String(required=True, validate=TEXT)
    code = fields.String(required=True, validate=TEXT)
    display = fields.String(required=True, validate=TEXT)


class ExpansionSchema(Schema):
    """A vendored value-set expansion (value-sets/vsac/*.json, value-sets/ips/*.json): the
    codes of a published expansion, with where they were read."""

    oid = fields.String(load_default=None, validate=validate.Regexp(r"^[0-9]+(\.[0-9]+)+$"))
    url = fields.Url(required=True, **_HTTP_URL)
    name = fields.String(required=True, validate=TEXT)
    version = fields.String(required=True, validate=TEXT)
    expansion = fields.String(required=True, validate=TEXT)
    source = fields.Nested(ExpansionProvenanceSchema, required=True)
    selection = fields.String(required=True, validate=TEXT)
    codes = fields.List(
        fields.Nested(ExpansionCodeSchema), required=True, validate=validate.Length(min=1)
    )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> Expansion:
        source = data["source"]
        return Expansion(
            name=data["name"],
            provenance=(
                f"{data['name']} ({data['url']}, version {data['version']}, expansion "
                f"{data['expansion']}), read from {source['repository']} at "
                f"{source['commit'][:12]}: {source['path']}"
            ),
            codes=tuple(
                ExpansionCode(
                    system=item["system"],
                    code=item["code"],
                    display=_without_semantic_tag(item["display"]),
                )
                for item in data["codes"]
            ),
        )


_SEMANTIC_TAG = re.compile(
    r" \((?:disorder|finding|situation|morphologic abnormality|procedure)\)$"
)


def _without_semantic_tag(display: str) -> str:
    """SNOMED CT fully specified names end in a semantic tag; cards show the term alone."""
    return _SEMANTIC_TAG.sub("", display)


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


class CptRangeSchema(Schema):
    first = fields.String(required=True, validate=validate.Regexp(r"^\d{5}$"))
    last = fields.String(required=True, validate=validate.Regexp(r"^\d{5}$"))
    display = fields.String(required=True, validate=TEXT)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **kwargs: Any) -> None:
        if int(data["first"]) > int(data["last"]):
            raise ValidationError(f"{data['first']} comes after {data['last']}.", "last")


class CptRangesSchema(Schema):
    sources = source_ids(required=True)
    ranges = fields.List(
        fields.Nested(CptRangeSchema), required=True, validate=validate.Length(min=1)
    )


class CategorySchema(Schema):
    system = fields.String(required=True, validate=TEXT)
    code = fields.String(required=True, validate=TEXT)
    display = fields.String(required=True, validate=TEXT)
    sources = source_ids(required=True)


class ImagingOrdersSchema(Schema):
    cpt_ranges = fields.Nested(CptRangesSchema, required=True)
    categories = fields.List(fields.Nested(CategorySchema), required=True)
    words = fields.List(fields.String(validate=validate.Regexp(r"^[A-Za-z]+$")), required=True)
    abbreviations = fields.List(fields.String(validate=validate.Regexp(r"^[A-Z]+$")), required=True)

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> ImagingOrders:
        return ImagingOrders(
            cpt_ranges=tuple(
                (int(item["first"]), int(item["last"])) for item in data["cpt_ranges"]["ranges"]
            ),
            categories=frozenset((item["system"], item["code"]) for item in data["categories"]),
            words=_whole_words(data["words"], data["abbreviations"]),
        )


def _whole_words(words: list[str], abbreviations: list[str]) -> re.Pattern[str]:
    """Letters only (validated above), so no escaping is needed and nothing can backtrack."""
    alternatives = [f"(?i:{word})" for word in words] + abbreviations
    return re.compile(rf"\b(?:{'|'.join(alternatives)})\b")


class ModalityPatternSchema(Schema):
    modality = enum_field(Modality, required=True)
    pattern = Regex(required=True)


class ContrastPatternSchema(Schema):
    contrast = enum_field(Contrast, required=True, validate=validate.OneOf(_SPOKEN_CONTRASTS))
    pattern = Regex(required=True)


class RegionPatternSchema(Schema):
    region = enum_field(SpineRegion, required=True)
    pattern = Regex(required=True)


# The red flags are read from words too (decision/text_flags.py); one kind can be severe.
_SEVERE_KIND = FindingKind.NEUROLOGIC_DEFICIT
_CUES = ("negation", "suspicion", "affirmation", "negation_after", "suspicion_after")


class RedFlagPatternSchema(Schema):
    pattern = Regex(required=True)
    severe = fields.Boolean(load_default=False)
    suspected = fields.Boolean(load_default=False)


def _per_flag_kind(values: fields.Field, **kwargs: Any) -> Keyed:
    """A mapping keyed by the red-flag kinds (malignancy, neurologic_deficit, infection)."""
    kinds = fields.String(validate=validate.OneOf([kind.value for kind in RED_FLAG_KINDS]))
    return Keyed(values, keys=kinds, **kwargs)


def _cue_list() -> fields.List:
    return fields.List(Regex(), required=True, validate=validate.Length(min=1))


def any_of(patterns: list[re.Pattern[str]]) -> re.Pattern[str]:
    """One case-insensitive pattern matching where any of the patterns does, in their order."""
    return re.compile("|".join(f"(?:{p.pattern})" for p in patterns), re.IGNORECASE)


def _literal_words(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Case-folded words one of which every match of the pattern contains (regex_screen.py),
    as plain substrings: `in` tests cost far less than a search."""
    words = fixed_words(pattern.pattern, pattern.flags)
    if not words:
        return ()
    return tuple(sorted({word.replace("\x00", "") for word in words} - {""}))


class TextPatternsSchema(Schema):
    modality = fields.List(fields.Nested(ModalityPatternSchema), required=True)
    contrast = fields.List(fields.Nested(ContrastPatternSchema), required=True)
    regions = fields.List(fields.Nested(RegionPatternSchema), required=True)
    whole_body = Regex(required=True)
    non_spine = Regex(required=True)
    spine = Regex(required=True)
    reason_regions = fields.List(fields.Nested(RegionPatternSchema), required=True)
    prior_vcf_words = Regex(required=True)
    red_flags = _per_flag_kind(
        fields.List(fields.Nested(RedFlagPatternSchema), validate=validate.Length(min=1)),
        require=[kind.value for kind in RED_FLAG_KINDS],
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
            prior_vcf_words=data["prior_vcf_words"],
            red_flags=tuple(
                RedFlagPattern(
                    FindingKind(kind),
                    item["pattern"],
                    item["severe"],
                    item["suspected"],
                    _literal_words(item["pattern"]),
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
