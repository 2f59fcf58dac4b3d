"""Settings from environment variables, validated once at start-up.

Every variable has a default that works on a fresh machine with no other service;
the configuration table of docs/operations.md lists the same names, defaults and meanings.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
DEFAULT_KNOWLEDGE_DIR = PACKAGE_ROOT.parent / "cards"


class SettingsError(ValueError):
    """A configuration value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    knowledge_dir: Path = DEFAULT_KNOWLEDGE_DIR
    database_url: str = "sqlite:///vcf-imaging-cds.sqlite3"
    max_request_bytes: int = 5 * 1024 * 1024
    cors_origins: tuple[str, ...] = ("*",)
    fhir_connect_timeout: float = 2.0
    fhir_read_timeout: float = 5.0
    fhir_page_cap: int = 50
    # Bytes one hook call may read from fhirServer, all its pages and searches together: as
    # much patient data as a request may carry in its prefetch (docs/operations.md says why).
    fhir_max_bytes_per_call: int = 5 * 1024 * 1024
    # Most imaging draft orders evaluated per hook call: the rest get no rating and one card
    # says how many were not checked (docs/integration.md, "Bounded answers").
    max_draft_orders: int = 20
    # Most feedback entries per call: more is refused (413) before anything is stored.
    max_feedback_entries: int = 1000
    hook_deadline_seconds: float = 8.0
    # Under gunicorn (cds_service/web/serving.py): the time a client has to send a request's
    # head and body, and the calls (POSTs) one worker works on at once; others wait for a slot.
    request_read_timeout_seconds: float = 10.0
    worker_calls: int = 16
    auth_config: Path | None = None
    public_base_url: str | None = None
    jwt_algorithms: tuple[str, ...] = ("ES384", "RS384")
    jwt_leeway_seconds: int = 60
    # Longest exp - iat accepted: the sandbox and EHRs sign for 5 minutes; far-future exp values
    # would otherwise reach the jti table (and overflow PostgreSQL's integer past 2**31).
    jwt_max_lifetime_seconds: int = 600
    log_level: str = "INFO"
    # "Today" for look-backs when a draft order has no authoredOn; None = the UTC date of the
    # call. Fixed only to replay fixtures deterministically (tests, cds-replay), never in use.
    reference_date: dt.date | None = None

    def today(self) -> dt.date:
        return self.reference_date or dt.datetime.now(dt.UTC).date()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for name, parse in _PARSERS.items():
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[_FIELD_BY_ENV[name]] = parse(raw.strip())
            except (TypeError, ValueError) as error:
                raise SettingsError(f"{name}={raw!r}: {error}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        positive = {
            "CDS_MAX_REQUEST_BYTES": self.max_request_bytes,
            "CDS_FHIR_CONNECT_TIMEOUT": self.fhir_connect_timeout,
            "CDS_FHIR_READ_TIMEOUT": self.fhir_read_timeout,
            "CDS_FHIR_PAGE_CAP": self.fhir_page_cap,
            "CDS_FHIR_MAX_BYTES_PER_CALL": self.fhir_max_bytes_per_call,
            "CDS_MAX_DRAFT_ORDERS": self.max_draft_orders,
            "CDS_MAX_FEEDBACK_ENTRIES": self.max_feedback_entries,
            "CDS_HOOK_DEADLINE": self.hook_deadline_seconds,
            "CDS_REQUEST_READ_TIMEOUT": self.request_read_timeout_seconds,
            "CDS_WORKER_CALLS": self.worker_calls,
            "CDS_JWT_MAX_LIFETIME": self.jwt_max_lifetime_seconds,
        }
        for name, value in positive.items():
            if value <= 0:
                raise SettingsError(f"{name} must be greater than 0, got {value}")
        if self.jwt_leeway_seconds < 0:
            raise SettingsError("CDS_JWT_LEEWAY must not be negative")
        forbidden = [
            alg for alg in self.jwt_algorithms if alg.upper() == "NONE" or alg.startswith("HS")
        ]
        if forbidden:
            raise SettingsError(
                f"CDS_JWT_ALGORITHMS may hold only asymmetric algorithms, got {forbidden}"
            )
        if not self.knowledge_dir.is_dir():
            raise SettingsError(f"CDS_KNOWLEDGE_DIR={self.knowledge_dir} is not a directory")
        if self.auth_config is not None and not self.auth_config.is_file():
            raise SettingsError(f"CDS_AUTH_CONFIG={self.auth_config} is not a file")


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _base_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return raw.rstrip("/")


_ENV = {
    "CDS_KNOWLEDGE_DIR": ("knowledge_dir", Path),
    "DATABASE_URL": ("database_url", str),
    "CDS_MAX_REQUEST_BYTES": ("max_request_bytes", int),
    "CDS_CORS_ORIGINS": ("cors_origins", _csv),
    "CDS_FHIR_CONNECT_TIMEOUT": ("fhir_connect_timeout", float),
    "CDS_FHIR_READ_TIMEOUT": ("fhir_read_timeout", float),
    "CDS_FHIR_PAGE_CAP": ("fhir_page_cap", int),
    "CDS_FHIR_MAX_BYTES_PER_CALL": ("fhir_max_bytes_per_call", int),
    "CDS_MAX_DRAFT_ORDERS": ("max_draft_orders", int),
    "CDS_MAX_FEEDBACK_ENTRIES": ("max_feedback_entries", int),
    "CDS_HOOK_DEADLINE": ("hook_deadline_seconds", float),
    "CDS_REQUEST_READ_TIMEOUT": ("request_read_timeout_seconds", float),
    "CDS_WORKER_CALLS": ("worker_calls", int),
    "CDS_AUTH_CONFIG": ("auth_config", Path),
    "CDS_PUBLIC_BASE_URL": ("public_base_url", _base_url),
    "CDS_JWT_ALGORITHMS": ("jwt_algorithms", _csv),
    "CDS_JWT_LEEWAY": ("jwt_leeway_seconds", int),
    "CDS_JWT_MAX_LIFETIME": ("jwt_max_lifetime_seconds", int),
    "CDS_LOG_LEVEL": ("log_level", str.upper),
    "CDS_REFERENCE_DATE": ("reference_date", dt.date.fromisoformat),
}
_PARSERS = {name: parse for name, (_, parse) in _ENV.items()}
_FIELD_BY_ENV = {name: field_name for name, (field_name, _) in _ENV.items()}
assert set(_FIELD_BY_ENV.values()) <= {f.name for f in fields(Settings)}
