"""Decisions -> CDS Hooks cards, suggestions and systemActions.

Wording comes from `cards/` (Knowledge.wording); the uuid factory is injected so that a whole
response can be compared with a golden `expected.json`. A card's detail is short (the decision,
what each red flag requires, every finding that drove it, the most important pitfalls, the
sources named); its one link is the evidence page of the deciding variant (`evidence.py`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service import card_ids
from cds_service.cdshooks.request import HookRequest
from cds_service.cdshooks.response import (
    Action,
    ActionType,
    Card,
    Coding,
    HookResponse,
    Link,
    SelectionBehavior,
    Source,
    Suggestion,
)
from cds_service.decision.model import ClassifiedOrder, Evidence, OrderDecision
from cds_service.decision.model import Suggestion as DecidedSuggestion
from cds_service.decision.suggestions import ADJACENT_LEVEL_FRACTURE
from cds_service.evidence import evidence_path
from cds_service.knowledge.labels import REGION_ORDER, study_label, topic_label
from cds_service.knowledge.model import (
    CPT,
    LOINC,
    SNOMED,
    CardText,
    CardWording,
    Knowledge,
    Variant,
)
from cds_service.record_text import markdown_record_text, plain_record_text
from cds_service.render_limits import LeftOut, listed_evidence, orders_not_evaluated_card
from cds_service.vocabulary import Category, Contrast, Modality, SpineRegion, Study, Topic

PAMA_RATING = "http://fhir.org/argonaut/Extension/pama-rating"
PAMA_RATING_SYSTEM = "http://fhir.org/argonaut/CodeSystem/pama-rating"
PAMA_CONSULT_ID = "http://fhir.org/argonaut/Extension/pama-rating-consult-id"
# The Argonaut code for each ACR category. The IG's three codes are CMS's adherence language
# ("adheres to AUC", "does not adhere", "no AUC applicable"); ACR's May Be Appropriate lies
# within the criteria, so it is `appropriate` with the finer rating as a translation Coding,
# as the IG allows (knowledge pack §2.5, S13): the service's choice, see docs/clinical-logic.md.
_PAMA_CODE = {
    Category.USUALLY_APPROPRIATE: "appropriate",
    Category.MAY_BE_APPROPRIATE: "appropriate",
    Category.USUALLY_NOT_APPROPRIATE: "not-appropriate",
    Category.NOT_RATED: "no-criteria-apply",
}
_TRANSLATED = frozenset({Category.MAY_BE_APPROPRIATE})
# Topics about vertebral augmentation, a treatment: their sources are their own text's.
_TREATMENT_TOPICS = frozenset({Topic.MRI_BEFORE_AUGMENTATION, Topic.AUGMENTATION_CONTRAINDICATED})
# What an added order inherits from the draft beside it (DESIGN.md).
_CARRIED_OVER = ("subject", "encounter", "requester", "reasonCode", "reasonReference")
# What a changed order drops from the draft: what described the study it no longer is
# (its code, details, body site, narrative) and the version it was read at.
_DESCRIBES_THE_STUDY = frozenset(
    {
        "code",
        "orderDetail",
        "bodySite",
        "quantityQuantity",
        "quantityRatio",
        "quantityRange",
        "text",
        "meta",
    }
)


@dataclass(frozen=True)
class UnratedOrder:
    """An imaging order the service's criteria do not cover: rated `no-criteria-apply`."""

    order: ClassifiedOrder
    draft: dict[str, Any]


class Renderer:
    def __init__(
        self, knowledge: Knowledge, new_uuid: Callable[[], str] = card_ids.new_uuid
    ) -> None:
        self._knowledge = knowledge
        self._wording = knowledge.wording
        self._new_uuid = new_uuid
        self._codings = _index_codings(knowledge)
        _prove_orderable(self._codings, self._wording)
        self.topic_system = f"{knowledge.system_base}/card-topic"
        self.override_system = f"{knowledge.system_base}/override-reason"
        self.rating_extension = f"{knowledge.system_base}/acr-appropriateness"
        self.category_system = f"{knowledge.system_base}/acr-category"

    def render(
        self,
        decided: Sequence[tuple[OrderDecision, dict[str, Any]]],
        unrated: Sequence[UnratedOrder],
        hook_request: HookRequest,
        base_url: str,
        left_out: LeftOut | None = None,
    ) -> HookResponse:
        """A card for each decision (with the draft it is about) and a rating for each one on
        an imaging order, a rating alone for each imaging order the criteria do not cover.
        `base_url` is the service's own public address, for the cards' links to the evidence
        pages. `left_out`: the orders past CDS_MAX_DRAFT_ORDERS, not evaluated, said first
        in a card of their own."""
        if not decided and not unrated:
            return HookResponse()
        consult_id = f"urn:uuid:{self._new_uuid()}"
        cards = tuple(
            self._card(d, draft, hook_request, consult_id, base_url) for d, draft in decided
        )
        if left_out is not None:
            indicators = [card.indicator for card in cards]
            cards = (self._left_out_card(left_out, indicators), *cards)
        # A vertebral augmentation is carded (the MRI it needs first) but is not imaging:
        # like any other non-imaging order, it gets no rating (DESIGN.md).
        ratings = tuple(
            self._rating_action(d, draft, consult_id) for d, draft in decided if d.order.is_imaging
        )
        unrated_ratings = tuple(self._no_criteria_action(u, consult_id) for u in unrated)
        return HookResponse(cards=cards, system_actions=ratings + unrated_ratings)

    # -- cards ---------------------------------------------------------------------------

    def _left_out_card(self, left_out: LeftOut, other_indicators: Sequence[str]) -> Card:
        return orders_not_evaluated_card(
            self._wording, self._new_uuid(), self.topic_system, left_out, other_indicators
        )

    def _card(
        self,
        decision: OrderDecision,
        draft: dict[str, Any],
        hook_request: HookRequest,
        consult_id: str,
        base_url: str,
    ) -> Card:
        text = self._wording.card_texts[decision.topic]
        variant = self._knowledge.variants[decision.guidance]
        fields = self._template_fields(decision, variant)
        suggestions = tuple(
            self._suggestion(suggestion, draft, hook_request, consult_id)
            for suggestion in decision.suggestions
        )
        return Card(
            uuid=self._new_uuid(),
            summary=text.summary.format(**fields),
            detail=self._detail(decision, variant, text.detail.format(**fields)),
            indicator=decision.indicator.value,
            source=Source(
                label=self._wording.source_label,
                url=variant.url,
                topic=Coding(self.topic_system, decision.topic.value, topic_label(decision.topic)),
            ),
            suggestions=suggestions,
            selection_behavior=_selection_behavior(decision),
            override_reasons=tuple(
                Coding(self.override_system, reason.code, reason.display)
                for reason in text.override_reasons
            ),
            # One link: the page of the deciding variant with this order highlighted. Its
            # address names only the variant and the study, never the patient.
            links=(
                Link(
                    label=self._wording.link_label,
                    url=base_url.rstrip("/") + evidence_path(variant.id, decision.order.study),
                ),
            ),
        )

    def _template_fields(self, decision: OrderDecision, variant: Variant) -> dict[str, str]:
        study = decision.order.study
        assert study is not None  # out-of-scope orders never reach a decision
        rating = variant.rate(study.modality, study.contrast)
        return {
            "ordered": study_label(study, self._wording),
            "suggested": self._suggested_label(decision, variant),
            "category": self._wording.category_labels[decision.category],
            "rating": str(rating.rating) if rating and rating.rating else "",
            "radiation": decision.radiation_level,
            "variant": variant.title,
            "acr_topic": variant.acr_topic,
            "lookback_days": str(self._knowledge.mri_lookback_days),
        }

    def _suggested_label(self, decision: OrderDecision, variant: Variant) -> str:
        if decision.suggestions:
            chosen = [s for s in decision.suggestions if s.is_recommended]
            return (chosen or list(decision.suggestions))[0].label
        modality, contrast = decision.advised_study or variant.preferred[0]
        return study_label(Study(modality, contrast), self._wording)

    def _detail(self, decision: OrderDecision, variant: Variant, opening: str) -> str:
        headings = self._wording.headings
        parts = [opening.strip()]
        if decision.category is Category.NOT_RATED and decision.order.is_imaging:
            parts.append(headings["not_rated"])
        note = self._study_note(decision)
        if note:
            parts.append(note)
        if decision.advice_without_order:
            parts.append(headings["no_region"])
        parts.extend(self._requirement(name, decision) for name in decision.requirements)
        if decision.evidence:
            parts.append(self._evidence_lines(decision))
        pitfalls = self._card_pitfalls(decision)
        if pitfalls:
            lines = [f"**{headings['pitfalls']}**"]
            lines.extend("- " + self._pitfall(pitfall, decision) for pitfall in pitfalls)
            parts.append("\n".join(lines))
        parts.append(f"**{headings['sources']}** {self._citation(decision, variant)}")
        parts.append(headings["more"])
        return "\n\n".join(parts)

    def _evidence_lines(self, decision: OrderDecision) -> str:
        listed, more = listed_evidence(decision.evidence, self._wording.card_evidence)
        lines = [f"**{self._wording.headings['why']}**"]
        lines.extend(f"- {self._evidence_line(evidence)}" for evidence in listed)
        if more:
            lines.append(f"- {self._wording.more_evidence.format(count=f'{more:,}')}")
        return "\n".join(lines)

    def _card_pitfalls(self, decision: OrderDecision) -> list[str]:
        """The most important of the pitfalls that apply (cards/card-texts.yaml lists them in
        that order); the evidence page shows them all."""
        ranked = [name for name in self._wording.pitfalls if name in decision.pitfalls]
        return ranked[: self._wording.card_pitfalls]

    def _citation(self, decision: OrderDecision, variant: Variant) -> str:
        """The ACR variant that rated the order; for augmentation, which ACR's imaging
        variants do not rate, the sources of the card's own text. Named in words: the links
        are on the evidence page (and the ACR topic in `source.url`)."""
        if decision.topic in _TREATMENT_TOPICS:
            cited = [
                self._knowledge.sources[source_id] for source_id in self._text(decision).sources
            ]
            return "; ".join(s.title for s in cited) + "."
        citation = f"ACR *{variant.acr_topic}*: {variant.title.rstrip('.')}."
        if not variant.wording_confirmed:
            citation += f" {self._wording.headings['paraphrased']}"
        return citation

    def _text(self, decision: OrderDecision) -> CardText:
        return self._wording.card_texts[decision.topic]

    def _study_note(self, decision: OrderDecision) -> str:
        """Why the ordered study is not the best first one (radiographs, bone scan...)."""
        study = decision.order.study
        if decision.topic is not Topic.BETTER_INITIAL_STUDY or study is None:
            return ""
        return self._wording.study_notes.get(study.modality, "")

    def _evidence_line(self, evidence: Evidence) -> str:
        label = self._wording.evidence_labels[evidence.kind.value]
        levels = f", level {', '.join(evidence.levels)}" if evidence.levels else ""
        notes = [evidence.date[:10]] if evidence.date else []
        lookback = str(self._knowledge.mri_lookback_days)
        notes.extend(
            self._wording.qualifier_labels[q].format(lookback_days=lookback)
            for q in evidence.qualifiers
        )
        when = f" ({'; '.join(notes)})" if notes else ""
        return f"{label}: {markdown_record_text(evidence.display)}{levels}{when}"

    def _requirement(self, name: str, decision: OrderDecision) -> str:
        regions = [
            self._wording.region_labels[region]
            for region in REGION_ORDER
            if region in decision.deficit_regions
        ]
        return self._wording.requirements[name].format(deficit_regions=" and ".join(regions))

    def _pitfall(self, pitfall: str, decision: OrderDecision) -> str:
        text = self._wording.pitfalls[pitfall].format(
            treated_levels=", ".join(decision.treated_levels),
            adjacent_levels=" and ".join(decision.adjacent_levels),
            also_ordered=" and ".join(
                study_label(study, self._wording) for study in decision.also_ordered
            ),
        )
        if pitfall == ADJACENT_LEVEL_FRACTURE and decision.adjacent_levels:
            text += self._adjacent_coverage(decision)
        return text

    def _adjacent_coverage(self, decision: OrderDecision) -> str:
        """Whether the ordered study images the adjacent levels; unsaid when the order names
        no region (it cannot be known) or is not imaging (augmentation)."""
        coverage = self._wording.adjacent_coverage
        if decision.uncovered_levels:
            levels = " and ".join(decision.uncovered_levels)
            return " " + coverage["uncovered"].format(uncovered_levels=levels)
        study = decision.order.study
        imaging = study is not None and study.modality is not Modality.VERTEBRAL_AUGMENTATION
        if imaging and (study.regions or study.whole_body):
            return " " + coverage["covered"].format(uncovered_levels="")
        return ""

    # -- suggestions ---------------------------------------------------------------------

    def _suggestion(
        self,
        suggestion: DecidedSuggestion,
        draft: dict[str, Any],
        hook_request: HookRequest,
        consult_id: str,
    ) -> Suggestion:
        """One action: an `update` of the draft to the suggested study (the Argonaut
        "CDS Hooks for PAMA" pattern, which the sandbox applies), or a `create` beside it
        for an MRI of a new deficit elsewhere (the draft stays for the back pain)."""
        label = study_label(suggestion.study, self._wording)
        rating = self._rating_extensions(
            suggestion.category, suggestion.variant_id, None, consult_id
        )
        if suggestion.adds:
            action = Action(
                type=ActionType.CREATE,
                description=f"Also order {label}",
                resource=self._added_order(suggestion.study, draft, hook_request, rating),
            )
        else:
            action = Action(
                type=ActionType.UPDATE,
                description=f"Change this order to {label}",
                resource=self._changed_order(suggestion.study, draft, rating),
            )
        return Suggestion(
            label=suggestion.label,
            uuid=self._new_uuid(),
            actions=(action,),
            is_recommended=True if suggestion.is_recommended else None,
        )

    def _order_code(self, study: Study) -> dict[str, Any]:
        code: dict[str, Any] = {"text": study_label(study, self._wording)}
        coding = self._codings.get(_coding_key(study))
        if coding:
            code["coding"] = copy.deepcopy(coding)
        return code

    def _changed_order(
        self, study: Study, draft: dict[str, Any], rating: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The draft as the suggested study: same id, patient, encounter, requester, reason,
        priority and notes; the new code and its rating; status draft."""
        changed = {
            name: copy.deepcopy(value)
            for name, value in draft.items()
            if name not in _DESCRIBES_THE_STUDY
        }
        changed["status"] = "draft"
        changed["code"] = self._order_code(study)
        changed["extension"] = self._without_ratings(draft) + rating
        return changed

    def _added_order(
        self,
        study: Study,
        draft: dict[str, Any],
        hook_request: HookRequest,
        rating: list[dict[str, Any]],
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "status": "draft",
            "intent": draft.get("intent") or "order",
            "code": self._order_code(study),
        }
        for element in _CARRIED_OVER:
            if draft.get(element):
                resource[element] = copy.deepcopy(draft[element])
        resource.setdefault("subject", {"reference": f"Patient/{hook_request.context.patient_id}"})
        if "encounter" not in resource and hook_request.context.encounter_id:
            resource["encounter"] = {"reference": f"Encounter/{hook_request.context.encounter_id}"}
        resource["extension"] = rating
        return resource

    # -- systemActions -------------------------------------------------------------------

    def _rating_action(
        self, decision: OrderDecision, draft: dict[str, Any], consult_id: str
    ) -> Action:
        """An update of the draft that only adds its rating (Argonaut CDS Hooks for PAMA)."""
        rating = self._rating_extensions(
            decision.category, decision.variant_id, decision.topic, consult_id
        )
        category = self._wording.category_labels[decision.category]
        return Action(
            type=ActionType.UPDATE,
            description=(
                f"ACR appropriateness of {plain_record_text(decision.order.display)}: {category}"
            ),
            resource=self._rated(draft, rating),
        )

    def _no_criteria_action(self, unrated: UnratedOrder, consult_id: str) -> Action:
        rating = self._rating_extensions(Category.NOT_RATED, "", None, consult_id)
        return Action(
            type=ActionType.UPDATE,
            description=(
                "No ACR criteria of this service apply to "
                + plain_record_text(unrated.order.display)
            ),
            resource=self._rated(unrated.draft, rating),
        )

    def _rated(self, draft: dict[str, Any], rating: list[dict[str, Any]]) -> dict[str, Any]:
        rated = copy.deepcopy(draft)
        rated["extension"] = self._without_ratings(draft) + rating
        return rated

    def _without_ratings(self, draft: dict[str, Any]) -> list[dict[str, Any]]:
        """The draft's own extensions, less any rating an earlier call put on it."""
        ours = {PAMA_RATING, PAMA_CONSULT_ID, self.rating_extension}
        return [
            copy.deepcopy(extension)
            for extension in draft.get("extension") or ()
            if not (isinstance(extension, dict) and extension.get("url") in ours)
        ]

    def _rating_extensions(
        self, category: Category, variant_id: str, topic: Topic | None, consult_id: str
    ) -> list[dict[str, Any]]:
        """The Argonaut pama-rating with its consult id, and the service's own extension
        with the ACR category (and the variant and card topic, when there are)."""
        codings = [{"system": PAMA_RATING_SYSTEM, "code": _PAMA_CODE[category]}]
        if category in _TRANSLATED:
            codings.append(
                {
                    "system": self.category_system,
                    "code": category.value,
                    "display": self._wording.category_labels[category],
                }
            )
        own = [{"url": "category", "valueCode": category.value}]
        if variant_id:
            own.append({"url": "variant", "valueString": variant_id})
        if topic is not None:
            own.append({"url": "topic", "valueCode": topic.value})
        return [
            {"url": PAMA_RATING, "valueCodeableConcept": {"coding": codings}},
            {"url": PAMA_CONSULT_ID, "valueUri": consult_id},
            {"url": self.rating_extension, "extension": own},
        ]


def _selection_behavior(decision: OrderDecision) -> SelectionBehavior | None:
    """One replacement at most; an added MRI can be taken with a replacement (any)."""
    if not decision.suggestions:
        return None
    if any(suggestion.adds for suggestion in decision.suggestions):
        return SelectionBehavior.ANY
    return SelectionBehavior.AT_MOST_ONE


def _coding_key(study: Study) -> tuple[Modality, Contrast, frozenset[SpineRegion], bool]:
    return (study.modality, study.contrast, study.regions, study.whole_body)


def _prove_orderable(codings: Mapping[tuple, list[dict[str, str]]], wording: CardWording) -> None:
    """A suggestion the EHR cannot store is worse than none: every suggested order must be
    valid R4. Its code and text come from the knowledge, proven here once at start-up; the
    rest is copied from the draft it replaces, which was valid R4 to be evaluated at all,
    and the patient and encounter references are plain strings. (Proving each suggestion
    per call cost 0.3 ms of a 2 ms answer.)"""
    for (modality, contrast, regions, whole_body), coding in codings.items():
        study = Study(modality, contrast, regions, whole_body)
        ServiceRequest.model_validate(
            {
                "resourceType": "ServiceRequest",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/example"},
                "code": {"coding": coding, "text": study_label(study, wording)},
            }
        )


def _index_codings(knowledge: Knowledge) -> dict[tuple, list[dict[str, str]]]:
    """For each study, one CPT and one LOINC coding to order it by (first listed wins); for
    a study neither names (CT of the thoracic and lumbar spine), its SNOMED CT code."""
    index: dict[tuple, dict[str, dict[str, str]]] = {}
    for orderable in knowledge.orderables.values():
        if orderable.system not in (CPT, LOINC, SNOMED):
            continue
        by_system = index.setdefault(_coding_key(orderable.study), {})
        # CPT descriptors are AMA-licensed: a CPT coding's display is the knowledge's own
        # short wording (orderables.yaml). Without a display the CDS Hooks sandbox does not
        # list the changed order's study (seen 2026-12-03).
        coding = {"system": orderable.system, "code": orderable.code, "display": orderable.display}
        by_system.setdefault(orderable.system, coding)
    return {
        key: [by_system[s] for s in (CPT, LOINC) if s in by_system]
        or [by_system[s] for s in (SNOMED,) if s in by_system]
        for key, by_system in index.items()
    }
