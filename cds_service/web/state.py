"""What the app builds once at start-up and every request reads (never writes)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from cds_service.feedback.store import FeedbackStore
from cds_service.knowledge.model import Knowledge
from cds_service.pipeline import HookPipeline
from cds_service.settings import Settings

EXTENSION_KEY = "vcf_imaging_cds"


@dataclass(frozen=True)
class ServiceState:
    settings: Settings
    knowledge: Knowledge
    pipeline: HookPipeline
    feedback: FeedbackStore


def service_state() -> ServiceState:
    return current_app.extensions[EXTENSION_KEY]
