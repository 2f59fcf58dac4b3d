"""`cds-replay patient`: what the service says about one exported patient and some draft orders.

    cds-replay patient Lonnie_Von.json --order 72131 --order 72148 --reason M54.50

The patient's Conditions, Procedures and ServiceRequests go into prefetch (patient_bundle.py);
the orders are draft ServiceRequests coded CPT or LOINC. The answer is shown as the fixture
table plus each card's summary. Exit status: 0 when the service answered 200, 1 when it
answered anything else, 2 when the request could not be built or sent.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cds_service.knowledge.errors import KnowledgeError
from cds_service.replay.core import SERVICE_BY_HOOK, ReplayError, Sender, flask_sender
from cds_service.replay.patient_bundle import (
    PatientBundleError,
    draft_order,
    hook_request,
    order_coding,
    read_patient_record,
    reason_coding,
)
from cds_service.replay.report import CardRow, card_rows, format_table, table_lines
from cds_service.replay.service import (
    EXIT_CANNOT_RUN,
    EXIT_MATCH,
    EXIT_MISMATCH,
    add_service_options,
    in_process_app,
    open_sender,
)
from cds_service.settings import Settings, SettingsError
from cds_service.web.state import EXTENSION_KEY

if TYPE_CHECKING:
    from cds_service.knowledge.model import Knowledge


def patient_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    out, err = sys.stdout, sys.stderr
    try:
        status, request, response = _ask(args, err)
    except (PatientBundleError, ReplayError, SettingsError, KnowledgeError, OSError) as error:
        print(f"cds-replay patient: {error}", file=err)
        return EXIT_CANNOT_RUN
    rows = card_rows(request, response)
    if args.json:
        body = {"bundle": args.bundle.name, "status": status, "rows": [r.as_json() for r in rows]}
        print(json.dumps({**body, "response": response}, indent=2, ensure_ascii=False), file=out)
    else:
        _show(args.bundle.name, status, rows, response, out)
    return EXIT_MATCH if status == 200 else EXIT_MISMATCH


def _ask(args: argparse.Namespace, err: TextIO) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """Builds the request with the knowledge the service uses, sends it: status, request, answer."""
    path = f"/cds-services/{SERVICE_BY_HOOK[args.hook]}"
    if args.url:
        from cds_service.knowledge.loader import load_knowledge

        request = build_request(args, load_knowledge(Settings.from_environ().knowledge_dir), err)
        with open_sender(args.url, (args.connect_timeout, args.timeout), args.verbose) as send:
            return _send(send, path, request, args)
    with in_process_app(args.verbose) as app:
        request = build_request(args, app.extensions[EXTENSION_KEY].knowledge, err)
        return _send(flask_sender(app.test_client()), path, request, args)


def _send(
    send: Sender, path: str, request: dict[str, Any], args: argparse.Namespace
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    if args.save_request:
        args.save_request.write_text(json.dumps(request, indent=2, ensure_ascii=False) + "\n")
    status, response = send(path, request)
    return status, request, response


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cds-replay patient",
        description=(
            "Build a hook request from a patient's exported FHIR data (a transaction, "
            "collection or searchset Bundle, e.g. a Synthea file) and draft imaging orders, "
            "send it, and show the cards."
        ),
    )
    parser.add_argument("bundle", type=Path, help="the patient's FHIR Bundle (JSON)")
    parser.add_argument(
        "--order",
        action="append",
        required=True,
        metavar="CODE",
        help="a draft order: CPT (72131) or LOINC (36154-8); repeatable",
    )
    parser.add_argument(
        "--reason",
        action="append",
        default=[],
        metavar="CODE",
        help="the orders' reason: ICD-10-CM (M54.50) or SNOMED CT (279039007); repeatable",
    )
    parser.add_argument("--hook", choices=sorted(SERVICE_BY_HOOK), default="order-select")
    parser.add_argument(
        "--patient", metavar="ID", help="which Patient, if the Bundle holds several"
    )
    parser.add_argument(
        "--authored-on",
        type=datetime.date.fromisoformat,
        default=None,
        metavar="YYYY-MM-DD",
        help="the orders' date, which recency rules count from (default: today)",
    )
    parser.add_argument(
        "--save-request", type=Path, metavar="PATH", help="also write the request sent (JSON)"
    )
    add_service_options(parser)
    return parser


def build_request(args: argparse.Namespace, knowledge: Knowledge, err: TextIO) -> dict[str, Any]:
    record = read_patient_record(_read_json(args.bundle), args.patient)
    reasons = [reason_coding(code, knowledge) for code in args.reason]
    authored_on = (args.authored_on or datetime.date.today()).isoformat()
    orders = []
    for number, code in enumerate(args.order, start=1):
        coding = order_coding(code, knowledge)
        if "display" not in coding:
            print(f"note: {code} is not among the knowledge's orderable studies", file=err)
        orders.append(draft_order(number, coding, reasons, record.patient_id, authored_on))
    return hook_request(record, orders, args.hook, str(uuid.uuid4()))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except ValueError as error:
        raise PatientBundleError(f"{path}: not valid JSON ({error})") from None


def _show(name: str, status: int, rows: list[CardRow], response: dict, out: TextIO) -> None:
    print(format_table(table_lines(name, rows, f"HTTP {status}")), file=out)
    if status != 200:
        print(f"\nThe service answered HTTP {status}:", file=out)
        print(json.dumps(response, indent=2, ensure_ascii=False), file=out)
        return
    summaries = [row for row in rows if row.summary]
    print(f"\n{len(summaries)} card(s)", file=out)
    for row in summaries:
        print(f"  [{row.indicator}] {row.order}: {row.summary}", file=out)
