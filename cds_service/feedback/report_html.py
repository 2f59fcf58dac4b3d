"""The feedback report as one self-contained HTML page with inline SVG bar charts.

Everything that came from the database is escaped: override reason codes are sent by the
EHR and must never become markup in a committee member's browser.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from cds_service.feedback.report_model import FeedbackReport, TopicFeedback

# Okabe-Ito colours: told apart by colour-blind readers, and in greyscale print.
ACCEPTED, OVERRIDDEN, NO_FEEDBACK = "#0072B2", "#D55E00", "#BBBBBB"
_LABEL_WIDTH, _BAR_WIDTH, _NOTE_WIDTH, _ROW = 300, 380, 150, 30
_LABEL_CHARS = 44

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222 }
h1 { font-size: 1.5em } h2 { font-size: 1.2em; margin-top: 2em }
table { border-collapse: collapse; margin: 0.5em 0 } td, th { padding: 0.25em 0.8em }
th { text-align: left; border-bottom: 1px solid #888 } td.n { text-align: right }
.legend span { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 0.3em 0 1em }
svg text { font: 13px system-ui, sans-serif; fill: #222 }
.note { color: #555 }
"""


@dataclass(frozen=True)
class Segment:
    value: int
    colour: str
    name: str


@dataclass(frozen=True)
class BarRow:
    label: str
    segments: tuple[Segment, ...]
    note: str


def render_html(report: FeedbackReport) -> str:
    period = f"since {report.since:%Y-%m-%d}" if report.since else "all time"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Card feedback per topic</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>How clinicians answered the spine-imaging cards</h1>",
        f'<p class="note">Period: {escape(period)}. Generated '
        f"{report.generated_at:%Y-%m-%d %H:%M} UTC. A card answered more than once counts "
        "with its last answer; a card overridden with several reasons counts under each. "
        "Free-text comments are counted, never shown. <em>Would have fired</em>: cards "
        "computed in silent mode, not shown to the clinician, not counted as issued.</p>",
    ]
    if not report.topics:
        parts.append("<p>No cards were issued and no feedback was received in this period.</p>")
    else:
        parts += [_answers_section(report.topics), *map(_topic_section, report.topics)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _answers_section(topics: Sequence[TopicFeedback]) -> str:
    rows = [
        BarRow(
            topic.label,
            (
                Segment(topic.accepted, ACCEPTED, "accepted"),
                Segment(topic.overridden, OVERRIDDEN, "overridden"),
                Segment(topic.without_feedback, NO_FEEDBACK, "no feedback"),
            ),
            f"{topic.answered} answered, {_percent(topic.accepted, topic.answered)} accepted",
        )
        for topic in topics
    ]
    legend = "".join(
        f'<span style="background:{colour}"></span>{name}'
        for colour, name in (
            (ACCEPTED, "accepted"),
            (OVERRIDDEN, "overridden"),
            (NO_FEEDBACK, "issued, no feedback"),
        )
    )
    return f'<h2>Answers per card topic</h2><p class="legend">{legend}</p>' + bar_chart(
        rows, "Accepted, overridden and unanswered cards per topic", stacked=True
    )


def _topic_section(topic: TopicFeedback) -> str:
    counts = (
        "<table><tr><th>issued</th><th>accepted</th><th>overridden</th><th>no feedback</th>"
        '<th title="computed in silent mode, not shown">would have fired</th></tr>'
        f'<tr><td class="n">{topic.issued}</td><td class="n">{topic.accepted}</td>'
        f'<td class="n">{topic.overridden}</td><td class="n">{topic.without_feedback}</td>'
        f'<td class="n">{topic.would_have_fired}</td></tr></table>'
    )
    heading = f"<h2>{escape(topic.label)} <small>({escape(topic.topic)})</small></h2>"
    return heading + counts + _changes_chart(topic) + _reasons_chart(topic)


def _changes_chart(topic: TopicFeedback) -> str:
    """What the accepted suggestions changed: "changed to <study>", "added <study>"."""
    return _share_chart(
        "Accepted changes", topic, topic.changes, topic.accepted, ACCEPTED, "accepted"
    )


def _reasons_chart(topic: TopicFeedback) -> str:
    return _share_chart(
        "Override reasons", topic, topic.reasons, topic.overridden, OVERRIDDEN, "overridden"
    )


def _share_chart(
    heading: str,
    topic: TopicFeedback,
    counts: Counter[str],
    total: int,
    colour: str,
    outcome: str,
) -> str:
    """One bar per item of `counts`, each with its share of `total` answers."""
    if not counts:
        return ""
    rows = [
        BarRow(item, (Segment(count, colour, outcome),), f"{count} ({_percent(count, total)})")
        for item, count in counts.most_common()
    ]
    return f"<h3>{heading}</h3>" + bar_chart(rows, f"{heading}: {topic.label}", stacked=False)


def bar_chart(rows: Sequence[BarRow], title: str, *, stacked: bool) -> str:
    """Horizontal bars, one row each; stacked rows fill the width, others share one scale."""
    width = _LABEL_WIDTH + _BAR_WIDTH + _NOTE_WIDTH
    height = _ROW * len(rows) + 10
    scale = max((sum(s.value for s in row.segments) for row in rows), default=0)
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    ]
    for index, row in enumerate(rows):
        y = 5 + index * _ROW
        total = sum(s.value for s in row.segments)
        full = total if stacked else scale
        body.append(_label(row.label, y))
        x = float(_LABEL_WIDTH)
        for segment in row.segments:
            if segment.value <= 0 or full <= 0:
                continue
            length = _BAR_WIDTH * segment.value / full
            tip = f"{segment.name}: {segment.value} ({_percent(segment.value, total)})"
            body.append(
                f'<rect x="{x:.1f}" y="{y}" width="{length:.1f}" height="{_ROW - 8}" '
                f'fill="{segment.colour}"><title>{escape(tip)}</title></rect>'
            )
            x += length
        note_x = _LABEL_WIDTH + _BAR_WIDTH + 8
        body.append(f'<text x="{note_x}" y="{y + 16}">{escape(row.note)}</text>')
    body.append("</svg>")
    return "".join(body)


def _label(text: str, y: int) -> str:
    shown = text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"
    return (
        f'<text x="{_LABEL_WIDTH - 8}" y="{y + 16}" text-anchor="end">'
        f"<title>{escape(text)}</title>{escape(shown)}</text>"
    )


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"
