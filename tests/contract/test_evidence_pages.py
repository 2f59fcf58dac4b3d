"""The evidence pages: every variant, every study, parsed as HTML; cards link to them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from cds_service.decision.model import Category, Contrast, Guidance, Modality, SpineRegion, Study
from cds_service.evidence import evidence_path
from cds_service.knowledge.labels import contrasts_for
from cds_service.web.state import EXTENSION_KEY

from ..conftest import FIXTURES

SEED = FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json"
SELECT = "/cds-services/vcf-imaging-order-select"
REGION_SETS = (frozenset({SpineRegion.THORACIC}), frozenset(SpineRegion), frozenset())


@pytest.fixture
def knowledge(app):
    return app.extensions[EXTENSION_KEY].knowledge


class Page(HTMLParser):
    """The parts of a page the tests read: headings, table rows (cells with their tags and
    attributes), the row marked as the order, links and the visible text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.rows: list[dict] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.lang = ""
        self._heading: str | None = None
        self._row: dict | None = None
        self._cell: dict | None = None
        self._in_body = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang", "")
        if tag == "body":
            self._in_body = True
        if tag in ("h1", "h2", "h3"):
            self._heading = tag
            self.headings.append((tag, ""))
        if tag == "tr":
            self._row = {"attrs": attributes, "cells": []}
        if tag in ("th", "td") and self._row is not None:
            self._cell = {"tag": tag, "attrs": attributes, "text": ""}
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3"):
            self._heading = None
        if tag in ("th", "td") and self._cell is not None and self._row is not None:
            self._cell["text"] = " ".join(self._cell["text"].split())
            self._row["cells"].append(self._cell)
            self._cell = None
        if tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._heading:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, text + data)
        if self._cell is not None:
            self._cell["text"] += data
        if self._in_body:
            self.text.append(data)

    @property
    def body_rows(self) -> list[dict]:
        return [
            row
            for row in self.rows
            if row["cells"]
            and row["cells"][0]["tag"] == "th"
            and row["cells"][0]["attrs"].get("scope") == "row"
        ]

    @property
    def ordered_rows(self) -> list[dict]:
        return [row for row in self.body_rows if "ordered" in row["attrs"].get("class", "")]

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def every_page(knowledge):
    for variant in knowledge.variants.values():
        yield variant, None
        for modality in Modality:
            for contrast in contrasts_for(modality):
                for regions in REGION_SETS:
                    yield variant, Study(modality, contrast, regions)


def patient_identifiers() -> set[str]:
    """Every value of the seed request that could identify the patient or the encounter:
    ids, references, names, dates, notes (not the words of codes, which the knowledge shares:
    "Thoracic back pain" is also an ACR topic)."""
    request = json.loads(SEED.read_text())
    found: set[str] = set()

    def walk(value, key=""):
        if isinstance(value, dict):
            for name, item in value.items():
                walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)
        elif isinstance(value, str) and key not in (
            "system",
            "resourceType",
            "status",
            "url",
            "intent",
            "hook",
            "use",
            "display",
            "text",
            "type",
            "code",
        ):
            found.add(value)

    walk(request["context"])
    walk(request["prefetch"])
    return {value for value in found if len(value) >= 4}


def test_every_page_of_every_variant_and_study(client, knowledge):
    identifiers = patient_identifiers()
    assert "seed-78f" in identifiers and "2024-11-12" in identifiers
    checked = 0
    for variant, study in every_page(knowledge):
        response = client.get(evidence_path(variant.id, study))
        assert response.status_code == 200, (variant.id, study)
        assert response.mimetype == "text/html"
        page = Page(response.get_data(as_text=True))
        assert page.lang == "en"
        assert [tag for tag, _ in page.headings].count("h1") == 1
        # The full procedure table: one row per ACR rating, headers scoped, categories in words.
        markers = ("Your order ", "Suggested first ")
        procedures = [row["cells"][0]["text"] for row in page.body_rows]
        for marker in markers:
            procedures = [text.removeprefix(marker) for text in procedures]
        assert procedures == [rating.procedure for rating in variant.ratings]
        header = next(
            row
            for row in page.rows
            if row["cells"][0]["tag"] == "th" and row["cells"][0]["attrs"].get("scope") == "col"
        )
        assert all(cell["attrs"].get("scope") == "col" for cell in header["cells"])
        for row, rating in zip(page.body_rows, variant.ratings, strict=True):
            label = knowledge.wording.category_labels[rating.category]
            assert label in row["cells"][1]["text"]
            assert f"cat-{rating.category.value}" in row["cells"][1]["attrs"]["class"]
            assert "mSv" in row["cells"][3]["text"]
        # The ordered study is highlighted, and only where ACR rates it.
        rated = variant.rate(study.modality, study.contrast) if study else None
        if rated is None:
            assert page.ordered_rows == []
        else:
            (row,) = page.ordered_rows
            assert row["cells"][0]["text"].startswith("Your order ")
            assert row["cells"][0]["text"].endswith(rated.procedure)
            assert row["attrs"].get("aria-current") == "true"
        # No patient data, by construction: none of the seed's values is on any page.
        words = page.words
        assert not [value for value in identifiers if value in words], (variant.id, study)
        assert knowledge.version in words
        checked += 1
    assert checked == len(knowledge.variants) * (
        1 + 3 * sum(len(contrasts_for(m)) for m in Modality)
    )


def test_page_says_the_order_and_shows_sources_pitfalls_and_legend(client, knowledge):
    study = Study(Modality.CT, contrasts_for(Modality.CT)[1], frozenset({SpineRegion.THORACIC}))
    page = Page(client.get(evidence_path("acr-vcf-2022-v3", study)).get_data(as_text=True))
    words = page.words
    assert "CT thoracic spine with IV contrast: Usually Not Appropriate in this variant" in words
    assert "IV contrast does not help show a compression fracture" in words
    # RRL in plain words, not "O 0 mSv"; UNCONFIRMED ratings are said to be so.
    assert "No ionizing radiation (0 mSv)" in words and "1 to 10 mSv" in words
    assert "O 0 mSv" not in words
    assert "not confirmed" in words and "UNCONFIRMED" in words
    headings = [text.strip() for _, text in page.headings]
    assert "Pitfalls that can apply to this order" in headings
    for name, pitfall in knowledge.wording.general_pitfalls.items():
        # CT, after a prior VCF: every seed pitfall can apply, not the deficit's
        assert (pitfall in words) is (name != "deficit-level-unknown"), name
    assert "https://acsearch.acr.org/docs/70545/Narrative/" in page.links
    assert "https://gravitas.acr.org/ACPortal/GetDataForOneTopic?topicId=171" in page.links


def test_a_lumbar_page_for_a_new_deficit_says_the_thoracic_cord_may_be_the_cause(client, knowledge):
    study = Study(Modality.MRI, Contrast.WITHOUT, frozenset({SpineRegion.LUMBAR}))
    variant = next(
        v for v in knowledge.variants.values() if v.guidance is Guidance.NEUROLOGIC_DEFICIT
    )
    words = Page(client.get(evidence_path(variant.id, study)).get_data(as_text=True)).words
    assert knowledge.wording.general_pitfalls["deficit-level-unknown"] in words


@pytest.mark.parametrize(
    "path",
    [
        "/evidence/no-such-variant",
        "/evidence/acr-vcf-2022-v3?modality=ct&contrast=intrathecal",
        "/evidence/acr-vcf-2022-v3?modality=ct",
        "/evidence/acr-vcf-2022-v3?modality=ct&contrast=with&region=sacrum",
        "/evidence/acr-vcf-2022-v3?modality=ct&contrast=with&patient=seed-78f",
    ],
)
def test_anything_but_a_known_variant_study_and_region_is_not_found(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "seed-78f" not in response.get_data(as_text=True)


def test_index_lists_variants_value_sets_and_version(client, knowledge):
    response = client.get("/evidence")
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    for variant in knowledge.variants.values():
        assert f"/evidence/{variant.id}" in page.links
        assert variant.title in page.words
    for value_set in knowledge.value_sets.values():
        assert value_set.title in page.words
        assert f"/fhir/ValueSet/{value_set.id.replace('_', '-')}" in page.links
    assert f"Knowledge version {knowledge.version}" in page.words


def test_every_card_has_one_link_to_its_page_and_a_short_detail(client, knowledge):
    cards = 0
    for request_path in sorted(FIXTURES.glob("*/request.json")):
        request = json.loads(request_path.read_text())
        service = (
            "vcf-imaging-order-select"
            if request["hook"] == "order-select"
            else ("vcf-imaging-order-sign")
        )
        for card in client.post(f"/cds-services/{service}", json=request).get_json()["cards"]:
            assert len(card["summary"]) < 140
            if card["source"]["topic"]["code"] == "OrdersNotEvaluated":
                assert "links" not in card  # about the call's orders, not an ACR variant
                continue
            cards += 1
            (link,) = card["links"]
            assert link["type"] == "absolute"
            url = urlsplit(link["url"])
            assert (url.scheme, url.netloc) == ("http", "localhost")
            assert client.get(f"{url.path}?{url.query}").status_code == 200
            if "**Watch for:**" in card["detail"]:
                pitfalls = card["detail"].split("**Watch for:**")[1].split("**Sources:**")[0]
                assert 1 <= len(re.findall(r"^- ", pitfalls, re.MULTILINE)) <= 2
            assert "](http" not in card["detail"]  # links live in `links`, not in the text
            assert "**Sources:**" in card["detail"]
    assert cards >= 30


def test_card_link_uses_the_configured_public_base_url(database_url):
    from cds_service import create_app
    from cds_service.settings import Settings

    app = create_app(
        Settings(database_url=database_url, public_base_url="https://cds.example.org/vcf")
    )
    card = app.test_client().post(SELECT, json=json.loads(SEED.read_text())).get_json()["cards"][0]
    assert card["links"][0]["url"] == (
        "https://cds.example.org/vcf/evidence/acr-vcf-2022-v3"
        "?modality=ct&contrast=with&region=thoracic"
    )


def test_the_seed_card_keeps_what_drove_it(client):
    card = client.post(SELECT, json=json.loads(SEED.read_text())).get_json()["cards"][0]
    detail = card["detail"]
    assert "IV contrast does not help show a compression fracture" in detail
    assert "(2024-10-28)" in detail and "level L2 (2024-11-12)" in detail
    assert "Check L1 and L3" in detail
    assert "Red flags for a pathologic fracture on CT" in detail
    assert "ACR *Management of Vertebral Compression Fractures*" in detail
    assert Category.USUALLY_NOT_APPROPRIATE.value not in detail


def luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_category_colours_have_contrast_and_read_in_greyscale(client):
    html = client.get("/evidence/acr-vcf-2022-v3").get_data(as_text=True)
    rules = dict(re.findall(r"\.cat-([a-z-]+) \{([^}]*)\}", html))
    colours = {}
    for category in Category:
        declared = dict(re.findall(r"([a-z-]+): (#[0-9a-f]{6})", rules[category.value]))
        colours[category] = declared["background"], declared["color"]
        assert contrast(*colours[category]) >= 4.5, category  # WCAG AA for text
    # The three ACR categories differ in lightness (or, for the lightest, by a dashed border),
    # so a greyscale print tells them apart even before the words and symbols.
    rated = [Category.USUALLY_APPROPRIATE, Category.MAY_BE_APPROPRIATE]
    lightness = sorted(luminance(colours[c][0]) for c in rated)
    assert lightness[1] - lightness[0] > 0.4
    assert "dashed" in rules[Category.USUALLY_NOT_APPROPRIATE.value]
    assert luminance(colours[Category.USUALLY_NOT_APPROPRIATE][0]) - lightness[1] > 0.2
    # Body text, notes, small print and links, all on white.
    for selector in (r"body", r"\.meta", r"\.note", r"\.unconfirmed", r"a"):
        rule = re.search(rf"\n\s*{selector} \{{([^}}]*)\}}", html).group(1)
        colour = re.search(r"(?<![-\w])color: (#[0-9a-f]{6})", rule).group(1)
        assert contrast(colour, "#ffffff") >= 4.5, selector
