"""`cds-replay FOLDER`: replay fixture folders through the service and compare the answers.

    cds-replay FOLDER                   every FOLDER/<scenario>/request.json, in-process
    cds-replay --url BASE_URL FOLDER    the same against a running service

Exit status: 0 when every answer matches its expected.json, 1 when one does not, 2 when the
replay could not run (usage, unreadable files, service unreachable).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from cds_service.knowledge.errors import KnowledgeError
from cds_service.replay.core import (
    ReplayError,
    Result,
    Scenario,
    Sender,
    load_scenarios,
    replay,
    unified_diff,
    write_expected,
)
from cds_service.replay.report import print_report
from cds_service.replay.service import (
    EXIT_CANNOT_RUN,
    EXIT_MATCH,
    EXIT_MISMATCH,
    add_service_options,
    open_sender,
)
from cds_service.settings import SettingsError

PROGRESS_THRESHOLD = 20  # scenarios; fewer finish before a bar would be worth drawing


def fixtures_main(argv: Sequence[str]) -> int:
    args = _fixtures_parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        if not args.folder.is_dir():
            raise ReplayError(f"{args.folder}: no such folder")
        scenarios = _selected(load_scenarios(args.folder), args.scenario)
        if not scenarios:
            raise ReplayError(f"{args.folder}: no <scenario>/request.json to replay")
        show_progress = args.progress
        if show_progress is None:
            show_progress = err.isatty() and len(scenarios) > PROGRESS_THRESHOLD
        with open_sender(args.url, (args.connect_timeout, args.timeout), args.verbose) as send:
            results = _replay_all(scenarios, send, Progress(len(scenarios), err, show_progress))
    except (ReplayError, SettingsError, KnowledgeError) as error:
        print(f"cds-replay: {error}", file=err)
        return EXIT_CANNOT_RUN
    if args.update:
        return _update(results, out, args.json)
    print_report(results, out, args.json)
    return EXIT_MATCH if all(r.passed for r in results) else EXIT_MISMATCH


def _fixtures_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cds-replay",
        description=(
            "Replay every FOLDER/<scenario>/request.json through the service and compare the "
            "answer with FOLDER/<scenario>/expected.json. Without --url the service runs "
            "in-process (development mode: no JWT checks, a temporary SQLite database)."
        ),
        epilog="To replay one exported patient: cds-replay patient --help",
    )
    parser.add_argument("folder", type=Path, help="folder of <scenario>/request.json")
    add_service_options(parser)
    parser.add_argument(
        "--update",
        action="store_true",
        help="after a human review: rewrite expected.json from the answers, print what changed",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="GLOB",
        help="replay only scenarios whose name matches (repeatable), e.g. 'seed-*'",
    )
    parser.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"progress bar on stderr (default: on a terminal, above {PROGRESS_THRESHOLD} "
        "scenarios)",
    )
    return parser


def _selected(scenarios: list[Scenario], patterns: Sequence[str] | None) -> list[Scenario]:
    if not patterns:
        return scenarios
    return [s for s in scenarios if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]


def _replay_all(scenarios: list[Scenario], send: Sender, progress: Progress) -> list[Result]:
    results = []
    for result in replay(scenarios, send):
        results.append(result)
        progress.advance(result.scenario.name)
    progress.close()
    return results


class Progress:
    """A one-line bar on stderr, redrawn in place; never written to a pipe unless asked."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self._total, self._stream, self._enabled, self._done = total, stream, enabled, 0

    def advance(self, name: str) -> None:
        self._done += 1
        if not self._enabled:
            return
        filled = self.WIDTH * self._done // self._total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._stream.write(f"\r[{bar}] {self._done}/{self._total} {name[:40]:<40}")
        self._stream.flush()

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()


def _update(results: list[Result], out: TextIO, as_json: bool) -> int:
    """Writes expected.json for each changed 200 answer; an error answer is never a golden."""
    changes: dict[str, list[dict[str, str]]] = {"updated": [], "unchanged": [], "refused": []}
    for result in results:
        name = result.scenario.name
        if result.status != 200:
            changes["refused"].append({"scenario": name, "reason": f"HTTP {result.status}"})
        elif result.passed:
            changes["unchanged"].append({"scenario": name})
        else:
            changes["updated"].append({"scenario": name, "diff": unified_diff(result)})
            write_expected(result)
    if as_json:
        print(json.dumps(changes, indent=2, ensure_ascii=False), file=out)
    else:
        for change in changes["updated"]:
            print(f"updated {change['scenario']}/expected.json\n{change['diff']}", file=out)
        for change in changes["refused"]:
            print(f"NOT updated {change['scenario']}: {change['reason']}", file=out)
        print(
            f"{len(changes['updated'])} updated, {len(changes['unchanged'])} unchanged, "
            f"{len(changes['refused'])} refused",
            file=out,
        )
    return EXIT_MISMATCH if changes["refused"] else EXIT_MATCH
