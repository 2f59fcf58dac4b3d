"""`cds-replay --url` against the real service under gunicorn gives the in-process result."""

from __future__ import annotations

import json

import pytest

from cds_service.replay.cli import main

from .gunicorn_server import free_port, gunicorn
from .replay_folders import CHANGED, change_order_code, copy_scenarios

pytestmark = pytest.mark.integration


def test_the_url_form_matches_the_in_process_replay(tmp_path, capsys):
    folder = copy_scenarios(tmp_path / "fixtures")
    assert main([str(folder), "--update"]) == 0
    capsys.readouterr()
    assert main([str(folder), "--json"]) == 0
    in_process = json.loads(capsys.readouterr().out)
    # Development mode (no CDS_AUTH_CONFIG) and a database of its own.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'service.sqlite3'}", "CDS_AUTH_CONFIG": ""}
    with gunicorn(env, workers=2) as base_url:
        assert main([str(folder), "--url", base_url, "--json"]) == 0
        over_http = json.loads(capsys.readouterr().out)
        change_order_code(folder)
        assert main([str(folder), "--url", base_url]) == 1
        out = capsys.readouterr().out
    assert over_http == in_process
    assert f"--- {CHANGED}/expected.json" in out


def test_a_service_that_is_not_running_cannot_run_the_replay(tmp_path, capsys):
    folder = copy_scenarios(tmp_path / "fixtures", names=("trap-no-vcf-history",))
    url = f"http://127.0.0.1:{free_port()}"
    assert main([str(folder), "--url", url, "--connect-timeout", "1"]) == 2
    assert "ConnectionError" in capsys.readouterr().err
