"""A real browser opens a card's link: Debian's Chromium, headless, driven by Selenium with
Debian's chromedriver (apt-get install chromium chromium-driver; nothing is downloaded).

The service runs under gunicorn as the Procfile starts it; the card comes from a real hook
call. Set EVIDENCE_SCREENSHOT_DIR to keep the screenshots (docs/images/ was made so).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from ..conftest import FIXTURES
from .gunicorn_server import gunicorn

pytestmark = pytest.mark.integration

SEED = FIXTURES / "seed-kyphoplasty-ct-thoracic-with-contrast" / "request.json"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch) -> Iterator[webdriver.Chrome]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "apt-get install chromium chromium-driver (.ci/run does)"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager: never download anything
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'service.sqlite3'}",
        "CDS_REFERENCE_DATE": "2026-12-03",
    }
    with gunicorn(env, workers=1) as base_url:
        yield base_url


def test_a_card_link_opens_its_evidence_page_in_chromium(service, browser, tmp_path):
    answer = requests.post(
        f"{service}/cds-services/vcf-imaging-order-select",
        json=json.loads(SEED.read_text()),
        timeout=30,
    )
    assert answer.status_code == 200
    (card,) = answer.json()["cards"]
    (link,) = card["links"]
    assert link["type"] == "absolute" and link["url"].startswith(f"{service}/evidence/")

    browser.set_window_size(1280, 2200)
    browser.get(link["url"])
    heading = browser.find_element(By.TAG_NAME, "h1").text
    assert heading.startswith("Management of Vertebral Compression Fractures: New back pain")
    (ordered,) = browser.find_elements(By.CSS_SELECTOR, "tbody tr.ordered")
    assert ordered.text.startswith("Your order CT spine area of interest with IV contrast")
    assert "Usually Not Appropriate" in ordered.text
    marker = ordered.find_element(By.TAG_NAME, "th")
    assert marker.value_of_css_property("border-left-width") == "8px"  # seen, not only said
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "CT thoracic spine with IV contrast: Usually Not Appropriate" in body
    assert "No ionizing radiation (0 mSv)" in body
    assert "Knowledge version" in body
    assert "seed-78f" not in body and "2024-11-12" not in body
    wide = tmp_path / "evidence-page.png"
    assert browser.save_screenshot(str(wide))

    # A phone-sized screen: the page does not scroll sideways; the table scrolls in its box.
    browser.set_window_size(390, 1600)
    browser.get(link["url"])
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    )
    narrow = tmp_path / "evidence-page-small-screen.png"
    assert browser.save_screenshot(str(narrow))

    for shot in (wide, narrow):
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
    keep = os.environ.get("EVIDENCE_SCREENSHOT_DIR")
    if keep:
        for shot in (wide, narrow):
            shutil.copy(shot, Path(keep) / shot.name)
