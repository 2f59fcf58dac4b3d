"""Real signing keys and JWTs for the trust tests: keys are generated per test run."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

EHR = "https://ehr.example.org"
OTHER_EHR = "https://other-ehr.example.org"


@dataclass(frozen=True)
class SigningKey:
    private: Any
    kid: str
    alg: str

    @property
    def public_jwk(self) -> dict[str, Any]:
        writer = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk = json.loads(writer.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}


def es384_key(kid: str | None = None) -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP384R1()), kid or str(uuid.uuid4()), "ES384")


def rs384_key(kid: str | None = None, bits: int = 2048) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return SigningKey(private, kid or str(uuid.uuid4()), "RS384")


def jwk_set(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk for key in keys]}


def claims(aud: str, iss: str = EHR, **overrides: Any) -> dict[str, Any]:
    """What the CDS Hooks sandbox sends: iss, aud, exp = now + 300, iat = now, a uuid jti."""
    now = int(time.time())
    return {"iss": iss, "aud": aud, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())} | (
        overrides
    )


def sign(key: SigningKey, payload: dict[str, Any], **header: Any) -> str:
    headers = {"kid": key.kid, "typ": "JWT"} | header
    return jwt.encode(payload, key.private, algorithm=key.alg, headers=headers)


def unsigned(payload: dict[str, Any], **header: Any) -> str:
    """A token with `alg: none` and an empty signature, as an attacker would write it."""
    return _compact({"alg": "none", "typ": "JWT"} | header, payload) + "."


def hs384_with_public_key(key: SigningKey, payload: dict[str, Any]) -> str:
    """The classic algorithm confusion: HMAC keyed with the issuer's public key (PEM)."""
    pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = _compact({"alg": "HS384", "typ": "JWT", "kid": key.kid}, payload)
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha384).digest()
    return f"{signing_input}.{_b64(signature)}"


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a payload with `changes` applied."""
    header, payload, signature = token.split(".")
    claims_ = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{_b64(json.dumps(claims_ | changes).encode())}.{signature}"


def write_auth_config(path: Path, issuers: list[dict[str, Any]]) -> Path:
    path.write_text(json.dumps({"issuers": issuers}))
    return path


def issuer_entry(
    iss: str, keys: list[SigningKey], fhir_servers: list[str] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"iss": iss, "jwks": jwk_set(*keys), "fhir_servers": fhir_servers or []} | extra


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _compact(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
