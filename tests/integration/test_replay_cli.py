"""`cds-replay FOLDER` through the console script's main(): table, diff, --json, --update, exits."""

from __future__ import annotations

import configparser
import json
import re

import pytest

from cds_service.replay.cli import main

from ..conftest import FIXTURES, REPO_ROOT
from .replay_folders import CHANGED, SCENARIOS, change_order_code, copy_scenarios


@pytest.fixture
def folder(tmp_path):
    return copy_scenarios(tmp_path / "fixtures")


@pytest.fixture
def reviewed(folder, capsys):
    """The copied scenarios with expected.json written, as after a clinical review."""
    assert main([str(folder), "--update"]) == 0
    capsys.readouterr()
    return folder


def test_the_project_fixtures_all_match_their_expected_answers(capsys):
    status = main([str(FIXTURES)])
    out = capsys.readouterr().out
    assert status == 0, out


def test_the_console_script_is_this_main():
    config = configparser.ConfigParser()
    config.read(REPO_ROOT / "setup.cfg")
    scripts = config["options.entry_points"]["console_scripts"]
    assert "cds-replay = cds_service.replay.cli:main" in scripts.strip().splitlines()


def test_matching_answers_exit_0_with_a_table(reviewed, capsys):
    assert main([str(reviewed)]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:3] == ["scenario", "order", "topic"] and header[-1] == "result"
    for name in SCENARIOS:
        assert re.search(rf"^{re.escape(name)}\s.*\spass$", out, re.MULTILINE), name
    assert "3 scenarios: 3 passed, 0 failed" in out


def test_without_expected_json_the_replay_fails(folder, capsys):
    assert main([str(folder)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL: no expected.json") == 3
    assert "3 scenario(s) have no expected.json: review their answers" in out


def test_a_changed_request_fails_with_exit_1_and_a_diff(reviewed, capsys):
    change_order_code(reviewed)
    assert main([str(reviewed)]) == 1
    out = capsys.readouterr().out
    assert re.search(rf"^{CHANGED}\s.*\sFAIL$", out, re.MULTILINE)
    assert f"=== {CHANGED}: FAIL" in out
    assert f"--- {CHANGED}/expected.json" in out
    assert f"+++ {CHANGED} (answer, HTTP 200)" in out
    assert re.search(r'^-\s+"code": "72129",?$', out, re.MULTILINE)
    assert re.search(r'^\+\s+"code": "72128",?$', out, re.MULTILINE)
    assert re.search(r'^  \S+: expected "72129", got "72128"$', out, re.MULTILINE)
    assert "3 scenarios: 2 passed, 1 failed" in out


def test_json_output_for_machines(reviewed, capsys):
    change_order_code(reviewed)
    assert main([str(reviewed), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["passed"], report["total"], report["failed"]) == (False, 3, 1)
    by_name = {entry["scenario"]: entry for entry in report["scenarios"]}
    changed = by_name[CHANGED]
    assert changed["passed"] is False and changed["status"] == 200
    assert any('expected "72129", got "72128"' in line for line in changed["differences"])
    assert changed["diff"].startswith(f"--- {CHANGED}/expected.json")
    no_history = by_name["trap-no-vcf-history"]
    assert no_history["passed"] is True and "diff" not in no_history
    assert [row["topic"] for row in no_history["rows"]] == ["no card"]
    assert len(by_name["order-sign-two-spine-orders"]["rows"]) == 2


def test_update_prints_what_changed_and_the_replay_then_passes(reviewed, capsys):
    change_order_code(reviewed)
    before = (reviewed / CHANGED / "expected.json").read_text()
    assert main([str(reviewed), "--update"]) == 0
    out = capsys.readouterr().out
    assert f"updated {CHANGED}/expected.json" in out
    assert re.search(r'^\+\s+"code": "72128",?$', out, re.MULTILINE)
    assert "1 updated, 2 unchanged, 0 refused" in out
    assert (reviewed / CHANGED / "expected.json").read_text() != before
    assert main([str(reviewed)]) == 0


def test_update_never_writes_an_error_answer(folder, capsys):
    (folder / "broken").mkdir()
    (folder / "broken" / "request.json").write_text(
        json.dumps({"hook": "order-select", "hookInstance": "x", "context": {}})
    )
    assert main([str(folder), "--update", "--json"]) == 1
    changes = json.loads(capsys.readouterr().out)
    assert changes["refused"] == [{"scenario": "broken", "reason": "HTTP 400"}]
    assert {c["scenario"] for c in changes["updated"]} == set(SCENARIOS)
    assert not (folder / "broken" / "expected.json").exists()


def test_only_the_named_scenarios_are_replayed(reviewed, capsys):
    assert main([str(reviewed), "--scenario", "trap-*", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [entry["scenario"] for entry in report["scenarios"]] == ["trap-no-vcf-history"]


def test_the_progress_bar_goes_to_stderr_only_when_asked_or_on_a_terminal(reviewed, capsys):
    assert main([str(reviewed), "--progress"]) == 0
    captured = capsys.readouterr()
    assert "3/3" in captured.err and "3/3" not in captured.out
    assert main([str(reviewed)]) == 0  # stderr is not a terminal here
    assert "3/3" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", "no such folder"),
        (lambda tmp: tmp, "no <scenario>/request.json to replay"),
    ],
)
def test_a_folder_without_scenarios_cannot_run(tmp_path, capsys, make, message):
    assert main([str(make(tmp_path))]) == 2
    assert message in capsys.readouterr().err
