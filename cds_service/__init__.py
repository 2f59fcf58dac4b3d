"""vcf-imaging-cds: a CDS Hooks service for spine imaging after vertebral compression fracture.

`create_app()` is the only entry point; nothing is read or built at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from flask import Flask

    from cds_service.settings import Settings


def create_app(settings: Settings | None = None, **overrides: object) -> Flask:
    """settings -> knowledge -> database -> blueprint -> error handlers."""
    from cds_service.web.app import build_app

    return build_app(settings, **overrides)
