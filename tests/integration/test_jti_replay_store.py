"""A jti is accepted once across instances sharing one database (PostgreSQL, and SQLite)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from cds_service.auth import JwtVerifier, ReplayGuard, TokenRejected, build_verifier
from cds_service.db import create_database_engine, seen_jwt_table
from tests.trust_support import EHR, claims, es384_key, issuer_entry, sign, write_auth_config

pytestmark = pytest.mark.integration

URL = "https://cds.example.org/cds-services/vcf-imaging-order-sign"
KEY = es384_key()


def instance(database_url: str, config: Path) -> tuple[JwtVerifier, sa.Engine]:
    """What one machine of the deployment builds at start-up: its own engine and verifier."""
    engine = create_database_engine(database_url)
    return build_verifier(config, engine, requests.Session(), ("ES384",), 60), engine


def test_a_token_replayed_to_other_instances_is_accepted_once(each_backend_url, tmp_path):
    config = write_auth_config(tmp_path / "auth.json", [issuer_entry(EHR, [KEY])])
    instances = [instance(each_backend_url, config) for _ in range(3)]
    token = sign(KEY, claims(URL))

    def attempt(index: int) -> bool:
        verifier, _ = instances[index % len(instances)]
        try:
            verifier.verify(token, URL)
        except TokenRejected:
            return False
        return True

    with ThreadPoolExecutor(max_workers=12) as pool:
        accepted = list(pool.map(attempt, range(60)))
    for _, engine in instances:
        engine.dispose()
    assert accepted.count(True) == 1


def test_distinct_tokens_are_all_accepted_concurrently(each_backend_url, tmp_path):
    config = write_auth_config(tmp_path / "auth.json", [issuer_entry(EHR, [KEY])])
    verifier, engine = instance(each_backend_url, config)
    tokens = [sign(KEY, claims(URL)) for _ in range(30)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        issuers = list(pool.map(lambda token: verifier.verify(token, URL).iss, tokens))
    engine.dispose()
    assert issuers == [EHR] * 30


def test_purging_forgets_only_jtis_that_can_no_longer_pass_exp(each_backend_url):
    engine = create_database_engine(each_backend_url)
    now = 1_800_000_000
    guard = ReplayGuard(engine, leeway_seconds=60, clock=lambda: now)
    long_gone, just_expired, live = now - 3600, now - 30, now + 300
    for jti, expires_at in [("long-gone", long_gone), ("just", just_expired), ("live", live)]:
        assert guard.first_use(EHR, jti, expires_at)
    assert guard.purge_expired() == 1
    with engine.connect() as connection:
        left = sorted(connection.execute(sa.select(seen_jwt_table.c.expires_at)).scalars())
    engine.dispose()
    assert left == [just_expired, live]


def test_purging_runs_now_and_then_on_its_own(each_backend_url):
    engine = create_database_engine(each_backend_url)
    clock = [time.time()]
    guard = ReplayGuard(engine, leeway_seconds=60, purge_every_seconds=300, clock=lambda: clock[0])
    guard.first_use(EHR, "old", int(clock[0]) - 10)
    clock[0] += 3600
    guard.first_use(EHR, "new", int(clock[0]) + 300)
    with engine.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(seen_jwt_table)).scalar()
    engine.dispose()
    assert left == 1


def test_the_store_keeps_hashes_not_jtis(each_backend_url):
    engine = create_database_engine(each_backend_url)
    ReplayGuard(engine, 60).first_use(EHR, "visible-nonce-123", int(time.time()) + 300)
    with engine.connect() as connection:
        (stored,) = connection.execute(sa.select(seen_jwt_table.c.jti_hash)).scalars()
    engine.dispose()
    assert "visible-nonce-123" not in stored and len(stored) == 64
