"""A JWT replayed to other gunicorn workers, or to other instances, is still accepted once.

Real gunicorn as the Procfile runs it; each request on a fresh connection, so the kernel
spreads them over the workers. gunicorn's access log names the worker (pid) that answered,
which shows the replays did reach more than one process.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.trust_support import (
    EHR,
    claims,
    es384_key,
    feedback_body,
    issuer_entry,
    sign,
    write_auth_config,
)

from .gunicorn_server import gunicorn
from .postgres_server import fresh_database

pytestmark = pytest.mark.integration

FEEDBACK = "/cds-services/vcf-imaging-order-sign/feedback"
KEY = es384_key()


@contextlib.contextmanager
def instance(folder: Path, database_url: str, **env: str) -> Iterator[tuple[str, Path]]:
    """One deployment instance: gunicorn with 2 workers; yields its URL and its access log."""
    folder.mkdir()
    config = write_auth_config(folder / "auth.json", [issuer_entry(EHR, [KEY])])
    access_log = folder / "access.log"
    options = (
        f"--access-logfile {shlex.quote(str(access_log))} "
        "--access-logformat '%(p)s %(s)s %(U)s' "
        "--no-control-socket"  # two instances at once: no shared control socket in $HOME
    )
    env = {
        "CDS_AUTH_CONFIG": str(config),
        "DATABASE_URL": database_url,
        "CDS_LOG_LEVEL": "WARNING",
        **env,
    }
    with gunicorn(env, workers=2, options=options) as base_url:
        yield base_url, access_log


def post(url: str, token: str) -> int:
    with requests.Session() as session:  # a fresh connection each time
        headers = {"Authorization": f"Bearer {token}"}
        return session.post(url, json=feedback_body(), headers=headers, timeout=30).status_code


def workers_that_answered(access_log: Path) -> set[str]:
    lines = access_log.read_text().splitlines() if access_log.exists() else []
    return {line.split()[0] for line in lines if FEEDBACK in line}


def test_a_token_replayed_to_two_workers_is_accepted_once(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    with instance(tmp_path / "a", database_url) as (base_url, access_log):
        token = sign(KEY, claims(base_url + FEEDBACK))
        statuses: list[int] = []
        with ThreadPoolExecutor(max_workers=16) as pool:
            for _ in range(20):  # until both workers have answered it, or 320 tries
                statuses += pool.map(lambda _: post(base_url + FEEDBACK, token), range(16))
                if len(workers_that_answered(access_log)) == 2:
                    break
        workers = workers_that_answered(access_log)
    assert len(workers) == 2
    assert statuses.count(200) == 1
    assert set(statuses) == {200, 401}


def test_a_token_replayed_to_another_instance_on_one_postgresql_is_accepted_once(
    tmp_path, server_url
):
    public = "https://cds.example.org"  # both instances sit behind one public URL
    with (
        fresh_database(server_url) as database_url,
        instance(tmp_path / "a", database_url, CDS_PUBLIC_BASE_URL=public) as (url_a, log_a),
        instance(tmp_path / "b", database_url, CDS_PUBLIC_BASE_URL=public) as (url_b, log_b),
    ):
        token = sign(KEY, claims(public + FEEDBACK))
        targets = [url_a + FEEDBACK, url_b + FEEDBACK] * 20
        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(lambda url: post(url, token), targets))
        answered = (workers_that_answered(log_a), workers_that_answered(log_b))
    assert all(answered)  # each instance answered some of the replays
    assert statuses.count(200) == 1
    assert set(statuses) == {200, 401}
