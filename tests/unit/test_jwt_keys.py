"""An issuer's JWK Set: inline, or fetched from its jwks_uri (a loopback server here)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from cds_service.auth import InlineKeys, RemoteKeys, build_verifier
from cds_service.auth.keys import JwkSetError, index_jwk_set
from cds_service.db import create_database_engine
from tests.trust_support import EHR, claims, es384_key, jwk_set, sign, write_auth_config


class JwksServer:
    """Serves whatever `body` and `status` say, and counts the requests it answered."""

    def __init__(self) -> None:
        self.body: bytes = b""
        self.status = 200
        self.headers: dict[str, str] = {}
        self.requests: list[str] = []
        self.delay = 0.0  # seconds before answering
        self.byte_interval = 0.0  # seconds between the bytes of the body (after the headers)
        self.answering = threading.Event()  # set once a request has come in
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                server.answering.set()
                time.sleep(server.delay)
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                if not server.byte_interval:
                    self.wfile.write(server.body)
                    return
                for byte in server.body:
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return  # the client gave up and closed the connection
                    time.sleep(server.byte_interval)

            def log_message(self, *_: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def serve(self, jwks: dict) -> None:
        self.body = json.dumps(jwks).encode()

    def __enter__(self) -> JwksServer:
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def server() -> Iterator[JwksServer]:
    with JwksServer() as running:
        yield running


@pytest.fixture
def clock() -> Clock:
    return Clock()


def remote(server: JwksServer, clock: Clock, path: str = "/jwks.json") -> RemoteKeys:
    return RemoteKeys(
        server.url + path, requests.Session(), max_age=3600, min_interval=60, clock=clock
    )


def test_keys_are_fetched_once_and_then_served_from_the_cache(server, clock):
    key = es384_key("k1")
    server.serve(jwk_set(key))
    keys = remote(server, clock)
    assert keys.find("k1")["x"] == key.public_jwk["x"]
    clock.now += 3599
    assert keys.find("k1") is not None
    assert len(server.requests) == 1


def test_the_cache_expires(server, clock):
    server.serve(jwk_set(es384_key("k1")))
    keys = remote(server, clock)
    keys.find("k1")
    clock.now += 3600
    keys.find("k1")
    assert len(server.requests) == 2


def test_an_unknown_kid_refetches_at_most_once_a_minute(server, clock):
    server.serve(jwk_set(es384_key("k1")))
    keys = remote(server, clock)
    keys.find("k1")
    for offset in range(20):  # 100 seconds of made-up kids
        clock.now += 5
        assert keys.find(f"made-up-{offset}") is None
    assert len(server.requests) == 2  # the first fetch, one refresh a minute later


def test_a_rotated_key_is_found_after_a_refresh(server, clock):
    server.serve(jwk_set(es384_key("old")))
    keys = remote(server, clock)
    assert keys.find("old") is not None
    server.serve(jwk_set(es384_key("new")))
    clock.now += 61
    assert keys.find("new") is not None
    assert keys.find("old") is None


def test_a_failed_fetch_keeps_the_known_keys(server, clock):
    server.serve(jwk_set(es384_key("k1")))
    keys = remote(server, clock)
    keys.find("k1")
    server.status, server.body = 503, b"down"
    clock.now += 3600
    assert keys.find("k1") is not None
    assert len(server.requests) == 2


def test_a_refresh_for_an_unknown_kid_does_not_hold_up_a_known_key(server, clock):
    server.serve(jwk_set(es384_key("k1")))
    keys = remote(server, clock)
    keys.find("k1")
    server.delay = 2.0  # the issuer is slow to answer the refresh
    clock.now += 61
    refresh = threading.Thread(target=keys.find, args=("made-up",))
    refresh.start()
    try:
        assert server.answering.wait(5)
        started = time.monotonic()
        assert keys.find("k1") is not None
        assert time.monotonic() - started < 0.5
    finally:
        refresh.join()
    assert len(server.requests) == 2


def test_a_trickled_key_set_is_given_up_after_the_read_timeout(server, clock):
    # A byte every 50 ms, each well within the read timeout: before, the read waited for
    # the whole Content-Length (about 20 s here), holding every call of the issuer.
    server.serve(jwk_set(es384_key("k1")))
    server.byte_interval = 0.05
    keys = RemoteKeys(server.url + "/jwks.json", requests.Session(), timeout=(1, 1), clock=clock)
    started = time.monotonic()
    assert keys.find("k1") is None
    assert time.monotonic() - started < 1.5


def test_a_redirect_is_not_followed(server, clock):
    server.status, server.headers = 302, {"Location": server.url + "/elsewhere.json"}
    keys = remote(server, clock)
    assert keys.find("k1") is None
    assert server.requests == ["/jwks.json"]


def test_an_oversized_key_set_is_not_read(server, clock):
    server.serve({"keys": [es384_key("k1").public_jwk], "padding": "x" * 300_000})
    assert remote(server, clock).find("k1") is None


def test_an_unreachable_jwks_uri_finds_no_key(clock):
    with JwksServer() as gone:
        url = gone.url
    keys = RemoteKeys(url + "/jwks.json", requests.Session(), timeout=(0.5, 0.5), clock=clock)
    assert keys.find("k1") is None


def test_the_verifier_accepts_a_token_signed_with_a_fetched_key(server, tmp_path):
    key = es384_key()
    server.serve(jwk_set(key))
    jwks_uri = server.url + "/jwks.json"
    config = write_auth_config(
        tmp_path / "auth.json", [{"iss": EHR, "jwks_uri": jwks_uri, "fhir_servers": []}]
    )
    engine = create_database_engine(f"sqlite:///{tmp_path / 'cds.sqlite3'}")
    verifier = build_verifier(config, engine, requests.Session(), ("ES384",), 60)
    url = "https://cds.example.org/cds-services/vcf-imaging-order-sign"
    assert verifier.verify(sign(key, claims(url), jku=jwks_uri), url).iss == EHR
    assert server.requests == ["/jwks.json"]


def test_a_private_key_in_a_key_set_is_refused():
    private = es384_key().public_jwk | {"d": "secret"}
    with pytest.raises(JwkSetError, match="private"):
        index_jwk_set({"keys": [private]})


def test_a_symmetric_key_in_a_key_set_is_refused():
    with pytest.raises(JwkSetError, match="private or symmetric"):
        index_jwk_set({"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]})


def test_a_kid_listed_twice_is_refused():
    key = es384_key("same")
    with pytest.raises(JwkSetError, match="twice"):
        index_jwk_set({"keys": [key.public_jwk, es384_key("same").public_jwk]})


def test_encryption_keys_and_keys_without_kid_are_left_out():
    signing = es384_key("sig")
    encryption = es384_key("enc").public_jwk | {"use": "enc"}
    anonymous = {k: v for k, v in es384_key().public_jwk.items() if k != "kid"}
    assert set(index_jwk_set({"keys": [signing.public_jwk, encryption, anonymous]})) == {"sig"}


def test_a_broken_key_is_refused():
    broken = es384_key("b").public_jwk | {"x": "AAAA"}
    with pytest.raises(JwkSetError, match="not a valid EC key"):
        index_jwk_set({"keys": [broken]})


def test_inline_keys_need_at_least_one_usable_key():
    with pytest.raises(JwkSetError, match="no usable"):
        InlineKeys({"keys": []})
