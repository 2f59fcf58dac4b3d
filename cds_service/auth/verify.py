"""Verifying the CDS client's JWT (CDS Hooks 2.0 §Trusting CDS Clients).

Checked, in this order: an allowed asymmetric `alg` (never `none` or HMAC: "SHALL NOT be
signed using ... any symmetric algorithm"), `typ` JWT and a `kid`; `iss` on the allow-list;
`jku`, when sent, equal to that issuer's configured `jwks_uri` (it is never fetched as
such); the key found by `kid` among that issuer's keys only; the signature; `aud` equal to
the URL called; `exp`, `iat` (not in the future) within the leeway; and last, so that
invalid tokens leave no trace, `jti` never seen before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jwt
import requests
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAudienceError,
    InvalidIssuerError,
    InvalidKeyError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)
from sqlalchemy.engine import Engine

from cds_service.auth.config import TrustConfig, TrustedIssuer, load_trust_config
from cds_service.auth.keys import InlineKeys, KeySource, RemoteKeys
from cds_service.auth.replay import ReplayGuard

_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
_CLAIM_FAILURES: tuple[tuple[type[PyJWTError], str], ...] = (
    (ExpiredSignatureError, "expired"),
    (ImmatureSignatureError, "issued in the future"),
    (InvalidAudienceError, "audience is not the URL called"),
    (InvalidIssuerError, "issuer mismatch"),
    (InvalidSignatureError, "bad signature"),
    (MissingRequiredClaimError, "a required claim is missing"),
    (InvalidKeyError, "key does not fit the algorithm"),
)


class TokenRejected(Exception):
    """Why a token was refused: for the service's log only, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_verifier(
    auth_config: Path,
    engine: Engine,
    session: requests.Session,
    algorithms: Iterable[str],
    leeway_seconds: int,
    max_lifetime_seconds: int = 600,
) -> JwtVerifier:
    """The verifier for the issuers of `auth_config`, remembering jtis in `engine`'s database."""
    config = load_trust_config(auth_config)
    keys: dict[str, KeySource] = {
        issuer.iss: InlineKeys(issuer.jwks)
        if issuer.jwks is not None
        else RemoteKeys(str(issuer.jwks_uri), session)
        for issuer in config.issuers.values()
    }
    replay = ReplayGuard(engine, leeway_seconds)
    return JwtVerifier(config, keys, replay, algorithms, leeway_seconds, max_lifetime_seconds)


class JwtVerifier:
    def __init__(
        self,
        config: TrustConfig,
        keys: Mapping[str, KeySource],
        replay: ReplayGuard,
        algorithms: Iterable[str],
        leeway_seconds: int,
        max_lifetime_seconds: int = 600,
    ) -> None:
        self._issuers = config.issuers
        self._max_lifetime = max_lifetime_seconds
        self._keys = keys  # by iss
        self._replay = replay
        self._algorithms = frozenset(algorithms)
        self._leeway = leeway_seconds

    @property
    def issuers(self) -> Mapping[str, TrustedIssuer]:
        return self._issuers

    def verify(self, token: str, audience: str) -> TrustedIssuer:
        """The trusted issuer that signed `token` for `audience`; TokenRejected otherwise."""
        header = _header(token)
        alg = self._algorithm(header)
        issuer = self._issuer(token, header)
        key = self._key(issuer, header, alg)
        # `aud` is the URL called, unless the issuer's site set its own by hand (Epic allows it).
        claims = self._claims(token, key, alg, issuer.audience or audience, issuer.iss)
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise TokenRejected("jti is not a non-empty string")
        self._check_lifetime(claims)
        if not self._replay.first_use(issuer.iss, jti, int(claims["exp"])):
            raise TokenRejected("jti already used (replay)")
        return issuer

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        """`exp` and `iat` as whole seconds, `exp` at most the configured lifetime after `iat`:
        a string, a fraction or a far-future `exp` would otherwise reach the jti table."""
        exp, iat = claims["exp"], claims["iat"]
        if type(exp) is not int or type(iat) is not int:
            raise TokenRejected("exp and iat must be whole numbers of seconds")
        if exp - iat > self._max_lifetime:
            raise TokenRejected(f"lifetime (exp - iat) over {self._max_lifetime} s")

    def _algorithm(self, header: Mapping[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise TokenRejected(f"algorithm {alg!r} not allowed")
        typ = header.get("typ", "JWT")
        if not isinstance(typ, str) or typ.upper() != "JWT":
            raise TokenRejected("typ is not JWT")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise TokenRejected("no kid")
        return alg

    def _issuer(self, token: str, header: Mapping[str, Any]) -> TrustedIssuer:
        # Read unverified only to pick whose keys to try; the signature is checked next.
        try:
            iss = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except InvalidTokenError:
            raise TokenRejected("malformed payload") from None
        issuer = self._issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise TokenRejected("issuer not trusted")
        jku = header.get("jku")
        if jku is not None and jku != issuer.jwks_uri:
            raise TokenRejected("jku is not the issuer's configured jwks_uri")
        return issuer

    def _key(self, issuer: TrustedIssuer, header: Mapping[str, Any], alg: str) -> jwt.PyJWK:
        jwk = self._keys[issuer.iss].find(header["kid"])
        if jwk is None:
            raise TokenRejected("kid not among the issuer's keys")
        if jwk.get("alg", alg) != alg:
            raise TokenRejected("key is published for another algorithm")
        try:
            return jwt.PyJWK(dict(jwk), algorithm=alg)
        except (PyJWTError, ValueError):
            raise TokenRejected("key does not fit the algorithm") from None

    def _claims(
        self, token: str, key: jwt.PyJWK, alg: str, audience: str, iss: str
    ) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                leeway=self._leeway,
                options={"require": _REQUIRED_CLAIMS, "enforce_minimum_key_length": True},
            )
        except PyJWTError as error:
            raise TokenRejected(_describe(error)) from None


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except InvalidTokenError:
        raise TokenRejected("malformed header") from None


def _describe(error: PyJWTError) -> str:
    for kind, reason in _CLAIM_FAILURES:
        if isinstance(error, kind):
            return reason
    return f"invalid token ({type(error).__name__})"
