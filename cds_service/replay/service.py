"""What both uses of `cds-replay` send to: a running service, or the app built in-process.

Also the exit statuses and the command-line options they share.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from cds_service.replay.core import Sender, flask_sender, http_sender
from cds_service.settings import Settings

if TYPE_CHECKING:
    from flask import Flask

EXIT_MATCH, EXIT_MISMATCH, EXIT_CANNOT_RUN = 0, 1, 2


def add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url", metavar="BASE_URL", help="a running service, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    parser.add_argument(
        "--timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="with --url: read timeout (default %(default)s)",
    )
    parser.add_argument(
        "--connect-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="with --url: connect timeout (default %(default)s)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="the in-process service's INFO log on stderr (its errors are always shown)",
    )


@contextlib.contextmanager
def open_sender(url: str | None, timeout: tuple[float, float], verbose: bool) -> Iterator[Sender]:
    """A running service at `url`, or the app built in-process on a throw-away database."""
    if url:
        with requests.Session() as session:
            yield http_sender(url, session, timeout)
        return
    with in_process_app(verbose) as app:
        yield flask_sender(app.test_client())


@contextlib.contextmanager
def in_process_app(verbose: bool) -> Iterator[Flask]:
    """`create_app()` from the environment's settings, minus the JWT checks and the database."""
    from cds_service import create_app

    logger = logging.getLogger("cds_service")
    level = logger.level
    with tempfile.TemporaryDirectory(prefix="cds-replay-") as folder:
        try:
            yield create_app(
                Settings.from_environ(),
                database_url=f"sqlite:///{Path(folder) / 'feedback.sqlite3'}",
                auth_config=None,  # in-process calls carry no JWT
                log_level="INFO" if verbose else "ERROR",
            )
        finally:
            logger.setLevel(level)  # create_app sets it process-wide
