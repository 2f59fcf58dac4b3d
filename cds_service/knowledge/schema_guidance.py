"""Schemas of the guidance files: ACR variants and card wording (variants.yaml, card-texts.yaml)."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    Schema,
    ValidationError,
    fields,
    post_load,
    validate,
    validates_schema,
)

from cds_service.knowledge.labels import LABEL_FRAGMENTS
from cds_service.knowledge.model import (
    CardText,
    CardWording,
    OverrideReason,
    Rating,
    Variant,
)
from cds_service.knowledge.schema_codes import check_contrast
from cds_service.knowledge.schema_fields import (
    NAME,
    TEXT,
    Keyed,
    Template,
    enum_field,
    source_ids,
)
from cds_service.vocabulary import (
    Category,
    Contrast,
    FindingKind,
    Guidance,
    Modality,
    Qualifier,
    SpineRegion,
    Topic,
)

SUMMARY_FIELDS = ("ordered", "suggested", "category")
DETAIL_FIELDS = (
    *SUMMARY_FIELDS,
    "rating",
    "radiation",
    "variant",
    "acr_topic",
    "lookback_days",
)
PITFALL_FIELDS = ("treated_levels", "adjacent_levels", "also_ordered")
# What each red flag adds to a card (decision/suggestions.py requirement ids).
REQUIREMENTS = (
    "urgent-consultation",
    "contrast-indicated-cancer",
    "contrast-indicated-infection",
    "longstanding-deficit",
    "augmentation-infection",
    "augmentation-infection-imaging",
    "augmentation-deficit",
)
REQUIREMENT_FIELDS = ("deficit_regions",)
MORE_EVIDENCE_FIELDS = ("count",)
# The card of a call with more imaging orders than CDS_MAX_DRAFT_ORDERS.
ORDERS_NOT_EVALUATED_FIELDS = ("evaluated", "not_evaluated")
ORDERS_NOT_EVALUATED_DETAIL_FIELDS = (*ORDERS_NOT_EVALUATED_FIELDS, "orders")
# Whether the levels adjacent to a treated one lie inside the ordered regions.
ADJACENT_COVERAGE = ("covered", "uncovered")
ADJACENT_COVERAGE_FIELDS = ("uncovered_levels",)
# Headings the renderer reads, plus the label fragments of labels.py.
HEADINGS = (
    "why",
    "pitfalls",
    "sources",
    "no_region",
    "paraphrased",
    "more",
    "not_rated",
    *LABEL_FRAGMENTS,
)

# ACR Relative Radiation Levels, adult bands (knowledge pack §3 R8); "Varies" as ACR prints it.
RADIATION_LEVELS = (
    "O 0 mSv",
    "☢ <0.1 mSv",
    "☢☢ 0.1-1 mSv",
    "☢☢☢ 1-10 mSv",
    "☢☢☢☢ 10-30 mSv",
    "☢☢☢☢☢ 30-100 mSv",
    "Varies",
)
# ACR rating bands: 7-9 Usually Appropriate, 4-6 May Be, 1-3 Usually Not (knowledge pack legend).
_BANDS = {
    Category.USUALLY_APPROPRIATE: range(7, 10),
    Category.MAY_BE_APPROPRIATE: range(4, 7),
    Category.USUALLY_NOT_APPROPRIATE: range(1, 4),
}
_RATED = tuple(_BANDS)


class RatingSchema(Schema):
    procedure = fields.String(required=True, validate=TEXT)
    modality = enum_field(Modality, required=True)
    contrast = enum_field(Contrast, required=True)
    category = enum_field(Category, required=True, validate=validate.OneOf(_RATED))
    rating = fields.Integer(load_default=None, allow_none=True, strict=True)
    radiation_level = fields.String(required=True, validate=validate.OneOf(RADIATION_LEVELS))
    radiation_level_complete_spine = fields.String(
        load_default=None, validate=validate.OneOf(RADIATION_LEVELS)
    )
    sources = source_ids(required=True, validate=validate.Length(min=1))

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_contrast(data["modality"], data["contrast"])
        rating, band = data["rating"], _BANDS[data["category"]]
        if rating is not None and rating not in band:
            raise ValidationError(
                f"{rating} is outside {data['category'].value} ({band.start}-{band.stop - 1}).",
                "rating",
            )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> Rating:
        return Rating(**{**data, "sources": tuple(data["sources"])})


class StudyKindSchema(Schema):
    modality = enum_field(Modality, required=True)
    contrast = enum_field(Contrast, required=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        check_contrast(data["modality"], data["contrast"])

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> tuple[Modality, Contrast]:
        return (data["modality"], data["contrast"])


class VariantSchema(Schema):
    id = fields.String(required=True, validate=NAME)
    title = fields.String(required=True, validate=TEXT)
    wording_confirmed = fields.Boolean(required=True, truthy={True}, falsy={False})
    acr_topic = fields.String(required=True, validate=TEXT)
    url = fields.Url(required=True, schemes={"http", "https"})
    sources = source_ids(required=True, validate=validate.Length(min=1))
    ratings = fields.List(
        fields.Nested(RatingSchema), required=True, validate=validate.Length(min=1)
    )
    preferred = fields.List(
        fields.Nested(StudyKindSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _preferred_are_rated_usually_appropriate(self, data: dict[str, Any], **kwargs: Any) -> None:
        rated: dict[tuple[Modality, Contrast], Rating] = {}
        for index, rating in enumerate(data["ratings"]):
            key = (rating.modality, rating.contrast)
            if key in rated:
                raise ValidationError(f"{_kind(key)} is rated twice.", f"ratings.{index}")
            rated[key] = rating
        for index, key in enumerate(data["preferred"]):
            rating = rated.get(key)
            if rating is None or rating.category is not Category.USUALLY_APPROPRIATE:
                raise ValidationError(
                    f"{_kind(key)} is not rated usually-appropriate in this variant.",
                    f"preferred.{index}",
                )


def _kind(key: tuple[Modality, Contrast]) -> str:
    return f"{key[0].value} {key[1].value}"


class VariantsSchema(Schema):
    variants = Keyed(
        VariantSchema(), keys=enum_field(Guidance), require=tuple(Guidance), required=True
    )

    @validates_schema
    def _unique_ids(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[str] = set()
        for guidance, variant in data["variants"].items():
            if variant["id"] in seen:
                raise ValidationError(
                    f"Id {variant['id']} is used twice.", f"variants.{guidance.value}.id"
                )
            seen.add(variant["id"])

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> dict[Guidance, Variant]:
        return {
            guidance: Variant(
                guidance=guidance,
                **{
                    **variant,
                    "sources": tuple(variant["sources"]),
                    "ratings": tuple(variant["ratings"]),
                    "preferred": tuple(variant["preferred"]),
                },
            )
            for guidance, variant in data["variants"].items()
        }


class OverrideReasonSchema(Schema):
    code = fields.String(required=True, validate=NAME)
    display = fields.String(required=True, validate=TEXT)


class CardTextSchema(Schema):
    summary = Template(SUMMARY_FIELDS, required=True)
    detail = Template(DETAIL_FIELDS, required=True)
    override_reasons = fields.List(fields.String(), load_default=list)
    sources = source_ids(load_default=())


class OrdersNotEvaluatedSchema(Schema):
    summary = Template(ORDERS_NOT_EVALUATED_FIELDS, required=True)
    detail = Template(ORDERS_NOT_EVALUATED_DETAIL_FIELDS, required=True)


class RequirementSchema(Schema):
    text = Template(REQUIREMENT_FIELDS, required=True)
    sources = source_ids(required=True, validate=validate.Length(min=1))


class PitfallSchema(Schema):
    text = Template(PITFALL_FIELDS, required=True)
    general = Template((), required=True)  # the evidence page's wording: no patient, no fields
    sources = source_ids(required=True, validate=validate.Length(min=1))


# Texts of the evidence pages (web/evidence.py) and their template fields.
EVIDENCE_PAGE_FIELDS = ("acr_topic", "ordered", "category", "version", "variant")
EVIDENCE_PAGE_TEXTS = (
    "index_title",
    "index_intro",
    "variants_heading",
    "value_sets_heading",
    "value_sets_intro",
    "version_label",
    "title",
    "ordered_heading",
    "ordered_rated",
    "ordered_not_rated",
    "ordered_augmentation",
    "no_order",
    "table_heading",
    "table_caption",
    "column_procedure",
    "column_category",
    "column_rating",
    "column_radiation",
    "ordered_marker",
    "preferred_marker",
    "rating_unconfirmed",
    "paraphrased_note",
    "rating_note",
    "radiation_heading",
    "radiation_intro",
    "radiation_note",
    "study_note_heading",
    "contrast_note",
    "pitfalls_heading",
    "pitfalls_intro",
    "sources_heading",
    "treatment_sources",
    "not_patient_data",
)


class EvidencePageSchema(Schema):
    texts = Keyed(Template(EVIDENCE_PAGE_FIELDS), require=EVIDENCE_PAGE_TEXTS, required=True)
    # Every level variants.yaml may print, in plain words (not "O 0 mSv").
    radiation_levels = Keyed(
        fields.String(validate=TEXT),
        keys=fields.String(validate=validate.OneOf(RADIATION_LEVELS)),
        require=RADIATION_LEVELS,
        required=True,
    )


class LabelsSchema(Schema):
    categories = Keyed(
        fields.String(validate=TEXT),
        keys=enum_field(Category),
        require=tuple(Category),
        required=True,
    )
    modalities = Keyed(
        fields.String(validate=TEXT),
        keys=enum_field(Modality),
        require=tuple(Modality),
        required=True,
    )
    regions = Keyed(
        fields.String(validate=TEXT),
        keys=enum_field(SpineRegion),
        require=tuple(SpineRegion),
        required=True,
    )
    # Empty where the modality already says it (not-applicable, intrathecal for CT myelography).
    contrasts = Keyed(
        fields.String(), keys=enum_field(Contrast), require=tuple(Contrast), required=True
    )


class CardTextsSchema(Schema):
    override_reasons = fields.List(fields.Nested(OverrideReasonSchema), required=True)
    card_texts = Keyed(
        CardTextSchema(), keys=enum_field(Topic), require=tuple(Topic), required=True
    )
    pitfalls = Keyed(PitfallSchema(), keys=fields.String(validate=NAME), required=True)
    evidence_labels = Keyed(
        fields.String(validate=TEXT),
        keys=enum_field(FindingKind),
        require=tuple(FindingKind),
        required=True,
    )
    evidence_qualifiers = Keyed(
        Template(("lookback_days",)),
        keys=enum_field(Qualifier),
        require=tuple(Qualifier),
        required=True,
    )
    requirements = Keyed(fields.Nested(RequirementSchema), require=REQUIREMENTS, required=True)
    adjacent_coverage = Keyed(
        Template(ADJACENT_COVERAGE_FIELDS), require=ADJACENT_COVERAGE, required=True
    )
    study_notes = Keyed(fields.String(validate=TEXT), keys=enum_field(Modality), required=True)
    headings = Keyed(fields.String(validate=TEXT), require=HEADINGS, required=True)
    source_label = fields.String(required=True, validate=TEXT)
    link_label = fields.String(required=True, validate=TEXT)
    card_pitfalls = fields.Integer(required=True, validate=validate.Range(min=1, max=4))
    # At least one line per kind of finding fits, so no kind that drove a card goes unlisted.
    card_evidence = fields.Integer(
        required=True, validate=validate.Range(min=len(FindingKind), max=50)
    )
    more_evidence = Template(MORE_EVIDENCE_FIELDS, required=True)
    orders_not_evaluated = fields.Nested(OrdersNotEvaluatedSchema, required=True)
    evidence_page = fields.Nested(EvidencePageSchema, required=True)
    labels = fields.Nested(LabelsSchema, required=True)

    @validates_schema
    def _override_reasons_known(self, data: dict[str, Any], **kwargs: Any) -> None:
        known: set[str] = set()
        for index, reason in enumerate(data["override_reasons"]):
            if reason["code"] in known:
                raise ValidationError(
                    f"{reason['code']} is defined twice.", f"override_reasons.{index}"
                )
            known.add(reason["code"])
        for topic, text in data["card_texts"].items():
            for index, code in enumerate(text["override_reasons"]):
                if code not in known:
                    raise ValidationError(
                        f"Unknown override reason {code!r}; define it under override_reasons.",
                        f"card_texts.{topic.value}.override_reasons.{index}",
                    )

    @post_load
    def _build(self, data: dict[str, Any], **kwargs: Any) -> CardWording:
        reasons = {
            r["code"]: OverrideReason(r["code"], r["display"]) for r in data["override_reasons"]
        }
        labels = data["labels"]
        return CardWording(
            card_texts={
                topic: CardText(
                    topic=topic,
                    summary=text["summary"].strip(),
                    detail=text["detail"].strip(),
                    override_reasons=tuple(reasons[code] for code in text["override_reasons"]),
                    sources=tuple(text["sources"]),
                )
                for topic, text in data["card_texts"].items()
            },
            pitfalls={name: item["text"].strip() for name, item in data["pitfalls"].items()},
            evidence_labels={kind.value: label for kind, label in data["evidence_labels"].items()},
            qualifier_labels=data["evidence_qualifiers"],
            requirements={
                name: item["text"].strip() for name, item in data["requirements"].items()
            },
            study_notes={
                modality: " ".join(note.split()) for modality, note in data["study_notes"].items()
            },
            adjacent_coverage={
                name: " ".join(text.split()) for name, text in data["adjacent_coverage"].items()
            },
            headings=data["headings"],
            source_label=data["source_label"],
            general_pitfalls={
                name: " ".join(item["general"].split()) for name, item in data["pitfalls"].items()
            },
            card_pitfalls=data["card_pitfalls"],
            card_evidence=data["card_evidence"],
            more_evidence=data["more_evidence"].strip(),
            orders_not_evaluated={
                name: " ".join(text.split()) for name, text in data["orders_not_evaluated"].items()
            },
            link_label=data["link_label"],
            evidence_page={
                **{
                    name: " ".join(text.split())
                    for name, text in data["evidence_page"]["texts"].items()
                },
                "radiation_levels": data["evidence_page"]["radiation_levels"],
            },
            category_labels=labels["categories"],
            modality_labels=labels["modalities"],
            region_labels=labels["regions"],
            contrast_labels=labels["contrasts"],
        )
