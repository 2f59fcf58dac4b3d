"""The trusted issuers, read once at start-up from the file named by `CDS_AUTH_CONFIG`.

```json
{"issuers": [{"iss": "https://ehr.example/", "jwks_uri": "https://ehr.example/jwks.json",
              "fhir_servers": ["https://ehr.example/fhir"]}]}
```
Each issuer gives `jwks` (an inline JWK Set) or `jwks_uri`, or both: inline keys are then
used as given and the URI is only what a `jku` header must equal. A file ending in `.yaml`
or `.yml` is read as YAML, anything else as JSON. Unknown fields are errors, so that a typo
(`jwks_url`) stops the service instead of silently trusting less or more than meant.

Optional, per issuer: `audience` (the `aud` it signs, when the site sets it by hand; default:
the exact URL called) and how its site sees the advice (presentation.py): `profile`
(`cds-hooks` | `epic`), `silent`, `min_indicator` (`info` | `warning` | `critical`) and
`orderables` (the service's CPT or LOINC code of a suggested study -> the site's Coding).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cds_service.auth.keys import InlineKeys, JwkSetError
from cds_service.fhir.base_url import canonical_fhir_base, is_within_base
from cds_service.presentation import DEFAULT_SITE, Profile, SiteProfile
from cds_service.vocabulary import Indicator

log = logging.getLogger(__name__)


class AuthConfigError(ValueError):
    """The auth config cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class TrustedIssuer:
    iss: str
    jwks: Mapping[str, Any] | None
    jwks_uri: str | None
    fhir_servers: tuple[str, ...]
    audience: str | None = None  # the `aud` this issuer signs; None: the URL called
    site: SiteProfile = DEFAULT_SITE

    def allows_fhir_server(self, url: str) -> bool:
        return any(is_within_base(url, base) for base in self.fhir_servers)


@dataclass(frozen=True)
class TrustConfig:
    issuers: Mapping[str, TrustedIssuer]  # by `iss`, exactly as the JWT carries it


_URL = {"require_tld": False, "schemes": {"http", "https"}}


def _plain_fhir_base(url: str) -> None:
    if canonical_fhir_base(url) is None:
        raise ValidationError(
            "not a plain FHIR base URL (no user info, query, fragment, dot segment or space)"
        )


class _OrderableSchema(Schema):
    system = fields.String(required=True, validate=validate.Length(min=1))
    code = fields.String(required=True, validate=validate.Length(min=1))
    display = fields.String(validate=validate.Length(min=1))


class _IssuerSchema(Schema):
    iss = fields.String(required=True, validate=validate.Length(min=1))
    jwks = fields.Dict()
    jwks_uri = fields.Url(**_URL)
    fhir_servers = fields.List(fields.Url(**_URL, validate=_plain_fhir_base), required=True)
    audience = fields.String(validate=validate.Length(min=1))
    profile = fields.Enum(Profile, by_value=True, load_default=DEFAULT_SITE.profile)
    silent = fields.Boolean(load_default=DEFAULT_SITE.silent)
    min_indicator = fields.Enum(Indicator, by_value=True, load_default=DEFAULT_SITE.min_indicator)
    orderables = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1)),
        values=fields.Nested(_OrderableSchema),
        load_default=dict,
    )

    @validates_schema
    def _has_keys(self, data: dict[str, Any], **_: Any) -> None:
        if "jwks" not in data and "jwks_uri" not in data:
            raise ValidationError("give 'jwks' (an inline JWK Set) or 'jwks_uri'", "jwks")
        if "jwks" in data:
            try:
                InlineKeys(data["jwks"])
            except JwkSetError as error:
                raise ValidationError(str(error), "jwks") from None


class _ConfigSchema(Schema):
    issuers = fields.List(
        fields.Nested(_IssuerSchema), required=True, validate=validate.Length(min=1)
    )

    @validates_schema
    def _unique(self, data: dict[str, Any], **_: Any) -> None:
        names = [issuer["iss"] for issuer in data.get("issuers", [])]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValidationError(f"issuers listed twice: {duplicates}", "issuers")


def load_trust_config(path: Path) -> TrustConfig:
    try:
        raw = _read(path)
        data = _ConfigSchema().load(raw)
    except ValidationError as error:
        raise AuthConfigError(f"CDS_AUTH_CONFIG={path}: {_named(error.messages, raw)}") from None
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise AuthConfigError(f"CDS_AUTH_CONFIG={path}: {error}") from None
    issuers = {entry["iss"]: _issuer(entry) for entry in data["issuers"]}
    for issuer in issuers.values():
        if issuer.jwks is not None and issuer.jwks_uri is None:
            log.warning(
                "issuer %s: inline jwks without jwks_uri: a JWT carrying a jku header (the "
                "CDS Hooks sandbox sends one) is refused with 401; give the jwks_uri it sends",
                issuer.iss,
            )
    return TrustConfig(issuers=MappingProxyType(issuers))


def _issuer(entry: dict[str, Any]) -> TrustedIssuer:
    site = SiteProfile(
        profile=entry["profile"],
        silent=entry["silent"],
        min_indicator=entry["min_indicator"],
        orderables=MappingProxyType(
            {code: MappingProxyType(coding) for code, coding in entry["orderables"].items()}
        ),
    )
    return TrustedIssuer(
        iss=entry["iss"],
        jwks=MappingProxyType(entry["jwks"]) if "jwks" in entry else None,
        jwks_uri=entry.get("jwks_uri"),
        fhir_servers=tuple(canonical_fhir_base(url) or url for url in entry["fhir_servers"]),
        audience=entry.get("audience"),
        site=site,
    )


def _named(messages: Any, raw: Any) -> Any:
    """Errors of `issuers.<n>` named by the issuer's `iss` where it has one."""
    issuers = raw.get("issuers") if isinstance(raw, dict) else None
    nested = messages.get("issuers") if isinstance(messages, dict) else None
    if not isinstance(nested, dict) or not isinstance(issuers, list):
        return messages
    named = {}
    for index, problem in nested.items():
        entry = issuers[index] if isinstance(index, int) and index < len(issuers) else None
        iss = entry.get("iss") if isinstance(entry, dict) else None
        named[f"issuer {iss!r}" if isinstance(iss, str) else f"issuers.{index}"] = problem
    return {**messages, "issuers": named}


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        return yaml.safe_load(text)
    return json.loads(text)
