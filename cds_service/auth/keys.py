"""An issuer's public keys (JWK Set, RFC 7517), inline from the config or fetched from `jwks_uri`.

CDS Hooks 2.0 §Trusting CDS Clients: the client "MUST make its public key, expressed as a
JSON Web Key (JWK), available in a JWK Set"; `kid` "MUST be unique within the CDS Client's
JWK Set" and selects the key.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import requests
import urllib3
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from cds_service.fhir.reads import read_body

log = logging.getLogger(__name__)

# Members that only a private or a symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_READERS = {"EC": ECAlgorithm.from_jwk, "RSA": RSAAlgorithm.from_jwk}
MAX_JWKS_BYTES = 256 * 1024
# Not fetched: no answer, a broken or slow one, or not a JWK Set (JwkSetError, bad JSON).
_FETCH_FAILURES = (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError)


class JwkSetError(ValueError):
    """A JWK Set that cannot be trusted as a whole."""


class KeySource(Protocol):
    def find(self, kid: str) -> Mapping[str, Any] | None: ...


def index_jwk_set(data: Any) -> dict[str, dict[str, Any]]:
    """Public signing keys by `kid`; unusable ones (other kty, `use: enc`, no kid) are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwkSetError("a JWK Set is an object with a 'keys' list")
    keys: dict[str, dict[str, Any]] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, dict):
            raise JwkSetError("every entry of 'keys' must be an object")
        kid = jwk.get("kid")
        if _PRIVATE_MEMBERS & jwk.keys():
            raise JwkSetError(f"key {kid!r} holds private or symmetric key material")
        if jwk.get("kty") not in _KEY_READERS or jwk.get("use", "sig") != "sig":
            continue
        if not isinstance(kid, str) or not kid:
            continue
        if kid in keys:
            raise JwkSetError(f"kid {kid!r} appears twice")
        try:
            _KEY_READERS[jwk["kty"]](jwk)
        except (InvalidKeyError, ValueError, TypeError, KeyError) as error:
            raise JwkSetError(f"key {kid!r} is not a valid {jwk['kty']} key: {error}") from None
        keys[kid] = dict(jwk)
    return keys


class InlineKeys:
    """Keys pasted into the config: never fetched, so rotation means editing the config."""

    def __init__(self, jwks: Mapping[str, Any]) -> None:
        self._keys = index_jwk_set(dict(jwks))
        if not self._keys:
            raise JwkSetError("holds no usable EC or RSA signing key with a kid")

    def find(self, kid: str) -> Mapping[str, Any] | None:
        return self._keys.get(kid)


class RemoteKeys:
    """A JWK Set fetched from `jwks_uri` and cached.

    Fetched on first use and again after `max_age`; an unknown `kid` (the issuer rotated its
    keys) fetches sooner, but at most once per `min_interval`, so a stream of made-up kids
    cannot make us hammer the issuer. A failed fetch keeps the keys already known.

    A call signed with a known key never waits for a fetch another call is making (a made-up
    kid, or an issuer slow to answer, would otherwise hold up every call of that issuer): it
    is checked against the keys known. A fetch reads at most MAX_JWKS_BYTES and takes at
    most the read timeout in all, however the issuer trickles its answer.
    """

    def __init__(
        self,
        uri: str,
        session: requests.Session,
        *,
        timeout: tuple[float, float] = (3.05, 5.0),
        max_age: float = 3600.0,
        min_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.uri = uri
        self._session = session
        self._timeout = timeout
        self._max_age = max_age
        self._min_interval = min_interval
        self._clock = clock
        self._fetching = threading.Lock()
        # Replaced whole by a fetch, never changed in place: read without the lock.
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def find(self, kid: str) -> Mapping[str, Any] | None:
        known = self._keys.get(kid)
        if known is not None and (self._fresh(self._clock()) or self._fetching.locked()):
            return known
        with self._fetching:
            now = self._clock()
            if self._should_fetch(kid, now):
                self._fetch(now)
            return self._keys.get(kid)

    def _fresh(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self._max_age

    def _should_fetch(self, kid: str, now: float) -> bool:
        if self._fresh(now) and kid in self._keys:
            return False
        return self._attempted_at is None or now - self._attempted_at >= self._min_interval

    def _fetch(self, now: float) -> None:
        self._attempted_at = now
        try:
            keys = index_jwk_set(self._download())
        except _FETCH_FAILURES as error:
            log.warning(
                "JWK Set %s not fetched (%s: %s); keeping %d known keys",
                self.uri,
                type(error).__name__,
                error,
                len(self._keys),
            )
            return
        self._keys, self._fetched_at = keys, now
        log.info("JWK Set %s fetched: %d signing keys", self.uri, len(keys))

    def _download(self) -> Any:
        # No redirects: the configured URI is the trust anchor, not wherever it points today.
        deadline = time.monotonic() + self._timeout[1]
        with self._session.get(
            self.uri,
            timeout=self._timeout,
            headers={"Accept": "application/json"},
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.status_code != 200:
                raise JwkSetError(f"HTTP {response.status_code}")
            body = read_body(response, _time_left(deadline), self._timeout[1], _size_limit())
        return json.loads(body)


def _time_left(deadline: float) -> Callable[[], float]:
    def time_left() -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise JwkSetError("not read in time")
        return left

    return time_left


def _size_limit() -> Callable[[int], None]:
    """Counts a JWK Set's bytes as they arrive; past MAX_JWKS_BYTES the fetch fails."""
    read = 0

    def count(size: int) -> None:
        nonlocal read
        read += size
        if read > MAX_JWKS_BYTES:
            raise JwkSetError(f"larger than {MAX_JWKS_BYTES} bytes")

    return count
