"""The evidence pages (HTML): the index a review committee reads and one page per ACR variant
and ordered study, which the cards link to. Server-rendered (Jinja2, as Flask ships it), no
JavaScript; built from the knowledge alone (`evidence.py`), never from patient data."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from cds_service import terminology
from cds_service.evidence import EVIDENCE_PATH, NoSuchPage, read_study, variant_page
from cds_service.web.state import service_state

pages = Blueprint("pages", __name__, template_folder="templates")

# The pages hold the knowledge only; a proxy may cache them for as long as a version lasts.
_HEADERS = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}


@pages.get(EVIDENCE_PATH)
def index():
    knowledge = service_state().knowledge
    value_sets = [
        (terminology.fhir_id(vs), vs) for vs in sorted(knowledge.value_sets.values(), key=_title)
    ]
    html = render_template(
        "evidence_index.html",
        knowledge=knowledge,
        texts=knowledge.wording.evidence_page,
        variants=list(knowledge.variants.values()),
        value_sets=value_sets,
    )
    return html, 200, _HEADERS


@pages.get(f"{EVIDENCE_PATH}/<variant_id>")
def variant(variant_id: str):
    knowledge = service_state().knowledge
    try:
        study = read_study(request.args.to_dict(flat=False))
        page = variant_page(knowledge, variant_id, study)
    except NoSuchPage:
        html = render_template(
            "evidence_missing.html", texts=knowledge.wording.evidence_page, knowledge=knowledge
        )
        return html, 404, _HEADERS
    return render_template("evidence_variant.html", page=page), 200, _HEADERS


def _title(value_set) -> str:
    return value_set.title
