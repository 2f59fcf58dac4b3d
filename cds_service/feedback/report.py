"""`cds-feedback-report`: how clinicians answered each card topic, for the review committee.

Per card topic: cards issued, accepted, overridden, without feedback, and the override
reasons, whichever shape carried them (the spec's `overrideReason`, Epic's `overrideReasons`
with a Coding or an Epic extension; `feedback_override_reason`). Feedback names only the card
uuid (CDS Hooks 2.0 §Feedback); the topic comes from `card_issued`, written when the card was
rendered. A card with several feedback entries counts once, with the entry received last; a
card overridden with several reasons counts under each. Free-text override comments are
counted but never shown: clinicians may write patient details in them.

Writes a text table to stdout (what the EHR sent with its control characters escaped, so
that it cannot clear or recolour a terminal or fake a row) and, with `--html`, one
self-contained page with inline SVG charts (no plotting dependency; any browser shows it,
and it can be mailed or printed).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cds_service.feedback import report_queries as queries
from cds_service.feedback.issued_cards import NO_TOPIC
from cds_service.feedback.report_html import render_html
from cds_service.feedback.report_model import FeedbackReport, TopicFeedback
from cds_service.feedback.suggested_changes import CHANGED
from cds_service.knowledge.labels import topic_label as topic_words
from cds_service.log_lines import escape_controls
from cds_service.vocabulary import LEGACY_TOPIC_CODES

NOT_RECORDED = "not-recorded"  # feedback on a card that card_issued does not know
NO_REASON = "no reason given"
COMMENT_ONLY = "free-text comment only (not shown)"
SUGGESTION_NOT_RECORDED = "a suggestion not recorded when issued"
SILENT_NOTE = "cards computed in silent mode, not shown to the clinician (not counted as issued)"


def build_report(
    engine: Engine,
    reason_labels: Mapping[tuple[str, str], str] | None = None,
    since: datetime | None = None,
    now: datetime | None = None,
) -> FeedbackReport:
    labels = reason_labels or {}
    topics: dict[str, TopicFeedback] = {}

    def topic(code: str | None) -> TopicFeedback:
        # Cards issued before the topic codes became alphanumeric count under the new code.
        code = str(LEGACY_TOPIC_CODES.get(code, code)) if code else NOT_RECORDED
        if code not in topics:
            topics[code] = TopicFeedback(code, topic_label(code))
        return topics[code]

    with engine.connect() as connection:
        for code, silent, count in queries.cards_per_topic(connection, since):
            if silent:
                topic(code).would_have_fired += count
            else:
                topic(code).issued += count
        reasons = queries.reasons_per_entry(connection, since)
        suggestions = queries.suggestions_of_accepted_cards(connection, since)
        for row in queries.last_answers(connection, since):
            entry = topic(row.topic)
            if row.outcome == "accepted":
                entry.accepted += 1
                for accepted in row.accepted_suggestions or ():
                    entry.changes[_change_label(suggestions.get(accepted))] += 1
            else:
                entry.overridden += 1
                for reason in reasons.get(row.entry_hash) or [row]:
                    entry.reasons[_reason_label(reason, labels)] += 1
    ordered = sorted(topics.values(), key=lambda t: (t.topic == NOT_RECORDED, -t.issued, t.topic))
    return FeedbackReport(now or datetime.now(UTC), since, tuple(ordered))


def topic_label(code: str) -> str:
    if code == NOT_RECORDED:
        return "Card not recorded (issued before recording began)"
    if code == NO_TOPIC:
        return "Card without topic"
    return topic_words(code)


def _change_label(suggestion: sa.Row | None) -> str:
    if suggestion is None:
        return SUGGESTION_NOT_RECORDED
    study = suggestion.study or "a study not named"
    return f"changed to {study}" if suggestion.change == CHANGED else f"added {study}"


def _reason_label(reason: sa.Row, labels: Mapping[tuple[str, str], str]) -> str:
    """The service's own words for a reason it offered, else the EHR's display (an Epic
    acknowledgement reason's), else the code."""
    if reason.code:
        return labels.get((reason.system or "", reason.code)) or reason.display or reason.code
    if reason.display:
        return reason.display
    return COMMENT_ONLY if reason.has_comment else NO_REASON


def reason_labels_from_knowledge(knowledge_dir: Path) -> dict[tuple[str, str], str]:
    """The display of each override reason the service offers, from `cards/`."""
    from cds_service.knowledge.loader import load_knowledge

    knowledge = load_knowledge(knowledge_dir)
    system = f"{knowledge.system_base}/override-reason"  # as render.Renderer codes them
    return {
        (system, reason.code): reason.display
        for text in knowledge.wording.card_texts.values()
        for reason in text.override_reasons
    }


def render_text(report: FeedbackReport) -> str:
    period = f"since {report.since:%Y-%m-%d}" if report.since else "all time"
    lines = [
        f"Card feedback per topic ({period}; generated {report.generated_at:%Y-%m-%d %H:%M} UTC)",
        f"{'topic':<34} {'issued':>7} {'accepted':>9} {'overridden':>11} {'no feedback':>12}"
        f" {'would have fired':>17}",
    ]
    for topic in report.topics:
        lines.append(
            f"{topic.topic:<34} {topic.issued:>7} {topic.accepted:>9} "
            f"{topic.overridden:>11} {topic.without_feedback:>12} {topic.would_have_fired:>17}"
        )
        for change, count in topic.changes.most_common():
            lines.append(f"    {change}: {count}")
        for reason, count in topic.reasons.most_common():
            lines.append(f"    overridden: {count:>5}  {reason}")
    if not report.topics:
        lines.append("(no cards issued and no feedback received in this period)")
    if any(topic.would_have_fired for topic in report.topics):
        lines.append(f"would have fired: {SILENT_NOTE}")
    # Reason codes and displays are what an EHR sent: escape the controls a terminal obeys.
    return "\n".join(escape_controls(line) for line in lines) + "\n"


def _missing_tables(engine: Engine) -> list[str]:
    """The report only reads: it never creates a database where a URL was mistyped."""
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and not Path(database).exists():
        return [table.name for table in queries.TABLES]
    present = set(sa.inspect(engine).get_table_names())
    return [table.name for table in queries.TABLES if table.name not in present]


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="cds-feedback-report",
        description="How clinicians answered each card topic: accepted, overridden and why.",
    )
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL of the feedback store (default: DATABASE_URL)"
    )
    parser.add_argument("--since", type=_date, help="only cards and feedback from this day on")
    parser.add_argument("--html", type=Path, help="also write the report as an HTML page here")
    return parser.parse_args(argv)


def _date(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    from cds_service.knowledge.errors import KnowledgeError
    from cds_service.settings import Settings, SettingsError

    args = _parse_args(argv)
    try:
        settings = Settings.from_environ()
    except SettingsError as error:
        print(f"cds-feedback-report: {error}", file=sys.stderr)
        return 2
    try:
        labels = reason_labels_from_knowledge(settings.knowledge_dir)
    except KnowledgeError as error:
        print(f"cds-feedback-report: override reasons shown as codes: {error}", file=sys.stderr)
        labels = {}
    engine = sa.create_engine(args.database_url or settings.database_url)
    try:
        missing = _missing_tables(engine)
        if missing:
            print(
                f"cds-feedback-report: no {', '.join(missing)} table in "
                f"{engine.url.render_as_string(hide_password=True)}: is this the service's "
                "DATABASE_URL, and has the service started on it once (to create or migrate it)?",
                file=sys.stderr,
            )
            return 1
        report = build_report(engine, labels, args.since)
    finally:
        engine.dispose()
    sys.stdout.write(render_text(report))
    if args.html:
        args.html.write_text(render_html(report), encoding="utf-8")
        print(f"HTML report written to {args.html}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
