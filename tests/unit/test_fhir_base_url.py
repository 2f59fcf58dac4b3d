"""A FHIR base in plain, canonical form, and the `next` links the token may follow."""

from __future__ import annotations

import pytest

from cds_service.fhir.base_url import canonical_fhir_base, is_page_of

BASE = "https://ehr.example/fhir"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("https://ehr.example/fhir", BASE),
        ("https://ehr.example/fhir/", BASE),
        ("HTTPS://EHR.Example/fhir", BASE),
        ("https://ehr.example:443/fhir", BASE),
        ("http://ehr.example:80/fhir/r4", "http://ehr.example/fhir/r4"),
        ("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/fhir"),
        ("http://[::1]:8080/fhir", "http://[::1]:8080/fhir"),
        ("https://ehr.example/fhir/r4%20b", "https://ehr.example/fhir/r4%20b"),
    ],
)
def test_a_plain_base_is_used_in_its_canonical_form(written, canonical):
    assert canonical_fhir_base(written) == canonical


@pytest.mark.parametrize(
    "written",
    [
        "https://ehr.example/fhir?",
        "https://ehr.example/fhir#",
        "https://ehr.example/fhir/Condition#",
        "https://ehr.example/fhir?_count=5",
        "https://user@ehr.example/fhir",
        "https://ehr.example@evil.example/fhir",
        "https://ehr.example/fhir/../admin",
        "https://ehr.example/fhir/%2e%2e/admin",
        "https://ehr.example/fhir/r4%2Fx",
        "https://ehr.example/fhir/..%5Cadmin",
        "https://ehr.example/fhir\\admin",
        " https://ehr.example/fhir",
        "https://ehr.example/fhir\n",
        "https://ehr.example/fh ir",
        "ftp://ehr.example/fhir",
        "https:///fhir",
        "https://ehr.example:99999/fhir",
        "",
    ],
)
def test_anything_but_a_plain_base_is_not_one(written):
    assert canonical_fhir_base(written) is None


@pytest.mark.parametrize(
    "link",
    [
        f"{BASE}/Condition?patient=1&page=2",
        f"{BASE}?_getpages=abc&_getpagesoffset=50",
        "HTTPS://EHR.EXAMPLE:443/fhir/Condition?page=2",
        f"{BASE}/r4/Condition?page=2",
    ],
)
def test_a_next_link_under_the_base_may_be_followed(link):
    assert is_page_of(link, BASE)


@pytest.mark.parametrize(
    "link",
    [
        "https://ehr.example/fhirx/Condition?page=2",
        "https://ehr.example/admin?page=2",
        f"{BASE}/../admin?page=2",
        f"{BASE}/%2e%2e/%2E%2E/admin?page=2",
        f"{BASE}/r4%2F..%2F..%2Fadmin?page=2",
        f"{BASE}/Condition?page=2#",
        "https://evil.example/fhir/Condition?page=2",
        "https://x@ehr.example/fhir/Condition?page=2",
        "http://ehr.example/fhir/Condition?page=2",
        f"{BASE}/Condition?page=2\r\nX-Evil: 1",
    ],
)
def test_a_next_link_out_of_the_base_is_not_followed(link):
    assert not is_page_of(link, BASE)
