"""Real signing keys and JWTs for the trust tests: keys are generated per test run."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
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


def feedback_body(comment: str | None = None) -> dict[str, Any]:
    """One overridden-card feedback entry, with a clinician's comment if given."""
    entry: dict[str, Any] = {
        "card": str(uuid.uuid4()),
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-26T10:00:00Z",
    }
    if comment is not None:
        entry["overrideReason"] = {"userComment": comment}
    return {"feedback": [entry]}


def auth_app(tmp_path: Path, issuers: list[dict[str, Any]], **settings: Any):
    """The real app, with `issuers` trusted and its own SQLite file."""
    from cds_service import create_app
    from cds_service.settings import Settings

    config = write_auth_config(tmp_path / "auth-config.json", issuers)
    database_url = f"sqlite:///{tmp_path / 'cds.sqlite3'}"
    return create_app(Settings(database_url=database_url, auth_config=config, **settings))


PATIENT_ID = "pt-trust-4711"
MRN = "MRN-77812345"
FAMILY, GIVEN = "Quiggleworth", "Zebedee"
ACCESS_TOKEN = "ehr-access-token-9f8e7d6c5b4a"


def order_sign_request(fhir_server: str | None = None, prefetch: bool = True) -> dict[str, Any]:
    """An order-sign call for a patient with a prior L1 compression fracture: MRI L-spine.

    Names, identifiers and codes are distinctive so that a test can look for them in logs.
    """
    subject = {"reference": f"Patient/{PATIENT_ID}"}
    draft = {
        "resourceType": "ServiceRequest",
        "id": "draft-mri-lumbar",
        "status": "draft",
        "intent": "order",
        "subject": subject,
        "code": {
            "coding": [
                {
                    "system": "http://www.ama-assn.org/go/cpt",
                    "code": "72158",
                    "display": "MRI lumbar spine without and with contrast",
                }
            ]
        },
    }
    request: dict[str, Any] = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/dr-trust",
            "patientId": PATIENT_ID,
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
    }
    if fhir_server is not None:
        request["fhirServer"] = fhir_server
        request["fhirAuthorization"] = {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/Condition.read patient/Procedure.read patient/ServiceRequest.read",
            "subject": "vcf-imaging-cds",
        }
    if prefetch:
        request["prefetch"] = _prefetch(subject)
    return request


def _prefetch(subject: dict[str, str]) -> dict[str, Any]:
    patient = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "urn:oid:1.2.3.4.5", "value": MRN}],
        "name": [{"family": FAMILY, "given": [GIVEN]}],
        "birthDate": "1941-07-23",
    }
    fracture = {
        "resourceType": "Condition",
        "id": "cond-vcf-l1",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {
            "coding": [
                {
                    "system": "http://hl7.org/fhir/sid/icd-10-cm",
                    "code": "M80.08XA",
                    "display": "Age-related osteoporosis with current pathological fracture, "
                    "vertebra(e), initial encounter for fracture",
                }
            ],
            "text": "Osteoporotic wedge fracture of L1 vertebra",
        },
        "bodySite": [{"text": "L1"}],
        "subject": subject,
        "onsetDateTime": "2025-02-11",
    }
    return {
        "patient": patient,
        "conditions": _searchset(fracture),
        "procedures": _searchset(),
        "serviceRequests": _searchset(),
    }


def _searchset(*resources: dict[str, Any]) -> dict[str, Any]:
    entries = [{"resource": resource} for resource in resources]
    return {"resourceType": "Bundle", "type": "searchset", "entry": entries}


class RecordingListener:
    """Accepts connections, counts them, answers 503 and hangs up."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._socket.settimeout(0.05)
        self.base = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            with connection:
                connection.settimeout(1)
                try:
                    connection.recv(65536)
                    connection.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n"
                    )
                except OSError:
                    pass

    def settle(self) -> int:
        """The count once connections already queued by the kernel have been accepted."""
        time.sleep(0.3)
        return self.accepted

    def __enter__(self) -> RecordingListener:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()
