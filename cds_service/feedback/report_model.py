"""What the feedback report counts per card topic: built by `report`, drawn by `report_html`."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class TopicFeedback:
    topic: str
    label: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    changes: Counter[str] = field(default_factory=Counter)  # accepted suggestions
    would_have_fired: int = 0  # computed in silent mode, never shown: not issued

    @property
    def without_feedback(self) -> int:
        return max(self.issued - self.accepted - self.overridden, 0)

    @property
    def answered(self) -> int:
        return self.accepted + self.overridden


@dataclass(frozen=True)
class FeedbackReport:
    generated_at: datetime
    since: datetime | None
    topics: tuple[TopicFeedback, ...]
