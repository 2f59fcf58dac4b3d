"""FHIR REST searches for one hook call: paging, timeouts within the hook's deadline.

The `requests.Session` is injected (one pooled session per process, shared by the
worker threads of `history.py`); every call has explicit (connect, read) timeouts, each
capped by the time left before the deadline. A body is read as it arrives, each wait on the
socket bounded by the time left, every byte counted against the call's budget (`reads.py`).
Failures become the small error tree of `errors.py`, with messages that carry no URL, no
header and nothing the server sent.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests
import urllib3

from cds_service.fhir.base_url import is_page_of
from cds_service.fhir.bundle import bundle_link, bundle_resources, is_bundle
from cds_service.fhir.errors import (
    FhirBadResponse,
    FhirUnauthorized,
    FhirUnreachable,
    HookDeadlineExceeded,
)
from cds_service.fhir.reads import CallReads, read_body, socket_of
from cds_service.settings import Settings

log = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
# A timeout this close to the deadline was cut short by the deadline, not by the server.
_DEADLINE_SLACK_SECONDS = 0.05


@dataclass(frozen=True)
class FhirClient:
    base_url: str
    session: requests.Session
    connect_timeout: float
    read_timeout: float
    page_cap: int  # pages read per search, the first one included
    deadline: float  # a time.monotonic() value
    access_token: str | None = field(default=None, repr=False)
    # Shared by all the searches and pages of one hook call (history.py makes one per call).
    reads: CallReads = field(
        default_factory=lambda: CallReads(Settings.fhir_max_bytes_per_call), repr=False
    )

    def search(self, relative_url: str) -> list[dict[str, Any]]:
        """Every resource of a search, following `next` links up to the page cap."""
        url = f"{self.base_url.rstrip('/')}/{relative_url}"
        return self._read_pages(self._get_bundle(url), url)

    def complete(self, first_page: dict[str, Any]) -> list[dict[str, Any]]:
        """A prefetched first page plus the pages its `next` links lead to."""
        return self._read_pages(first_page, bundle_link(first_page, "self"))

    def _read_pages(self, page: dict[str, Any], url: str | None) -> list[dict[str, Any]]:
        resources = bundle_resources(page)
        seen = {url} if url else set()
        pages_read = 1
        while (link := bundle_link(page, "next")) is not None:
            next_url = urljoin(url or f"{self.base_url.rstrip('/')}/", link)
            if next_url in seen:
                log.warning("FHIR paging loop: a next link repeats a page; %d page(s)", pages_read)
                break
            if pages_read >= self.page_cap:
                raise FhirBadResponse(f"search has more than {self.page_cap} pages")
            self._require_own_server(next_url)
            page, url = self._get_bundle(next_url), next_url
            seen.add(url)
            pages_read += 1
            resources.extend(bundle_resources(page))
        return resources

    def _require_own_server(self, url: str) -> None:
        """The token goes only to fhirServer: a `next` link elsewhere (another host, or out
        of the base by `..`, `%2e%2e` or an encoded slash) is not followed."""
        if not is_page_of(url, self.base_url):
            raise FhirBadResponse("a next link leads away from fhirServer")

    def _get_bundle(self, url: str) -> dict[str, Any]:
        document = _parse_json(self._get(url))
        if not is_bundle(document):
            raise FhirBadResponse("the answer to a search is not a FHIR Bundle")
        return document

    def _get(self, url: str) -> bytearray:
        remaining = self._remaining()
        timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
        try:
            # A redirect is never followed: it could lead the token and the patient's searches
            # off the server the allow-list admitted.
            with self.session.get(
                url, headers=self._headers(), timeout=timeout, stream=True, allow_redirects=False
            ) as response:
                _check_status(response.status_code)
                with self.reads.reading(socket_of(response)):
                    return read_body(response, self._remaining, self.read_timeout, self.reads.count)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
            if self.deadline - time.monotonic() < _DEADLINE_SLACK_SECONDS:
                raise HookDeadlineExceeded("FHIR request cut short by the hook deadline") from None
            raise FhirUnreachable(_describe_failure(error)) from None

    def _remaining(self) -> float:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise HookDeadlineExceeded("hook deadline passed while reading FHIR data")
        return remaining

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers


def _check_status(status: int) -> None:
    if status in (401, 403):
        raise FhirUnauthorized(f"FHIR server refused access (HTTP {status})")
    if status == 429 or status >= 500:
        raise FhirUnreachable(f"FHIR server unavailable (HTTP {status})")
    if 300 <= status < 400:
        raise FhirBadResponse(f"FHIR server answered with a redirect (HTTP {status}): not followed")
    if not 200 <= status < 300:
        raise FhirBadResponse(f"FHIR server answered HTTP {status}")


def _parse_json(body: bytearray) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise FhirBadResponse("the answer is not valid JSON") from None


def _describe_failure(error: Exception) -> str:
    """The kind of failure only: requests' own message names the URL (and the patient)."""
    if isinstance(error, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)):
        return "FHIR server did not answer in time"
    return f"FHIR server unreachable ({type(error).__name__})"
