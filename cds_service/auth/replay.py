"""`jti` seen once only (CDS Hooks 2.0 §JWT: a nonce "used to protect against replay attacks").

The memory is the service's database, not the process: every gunicorn worker, and every
instance that shares the PostgreSQL database, sees the same `seen_jwt` rows, and the
insert that records a `jti` is also the test for it (no read-then-write race).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cds_service.db import insert_unless_present, seen_jwt_table

log = logging.getLogger(__name__)

# Instances sharing the database may disagree about the time; keep rows this much longer.
_CLOCK_MARGIN_SECONDS = 300


def jti_hash(issuer: str, jti: str) -> str:
    """Scoped by issuer: two clients may pick the same jti without blocking each other."""
    return hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()


class ReplayGuard:
    def __init__(
        self,
        engine: Engine,
        leeway_seconds: int,
        *,
        purge_every_seconds: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._leeway = leeway_seconds
        self._purge_every = purge_every_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last_purge = float("-inf")

    def first_use(self, issuer: str, jti: str, expires_at: int) -> bool:
        """Record the token's jti; False when it was recorded before (a replay)."""
        self._purge_if_due()
        row = {"jti_hash": jti_hash(issuer, jti), "expires_at": expires_at}
        return insert_unless_present(self._engine, seen_jwt_table, row, "jti_hash")

    def purge_expired(self) -> int:
        """Forget jtis whose tokens can no longer pass the `exp` check, leeway included."""
        cutoff = int(self._clock()) - self._leeway - _CLOCK_MARGIN_SECONDS
        statement = sa.delete(seen_jwt_table).where(seen_jwt_table.c.expires_at < cutoff)
        with self._engine.begin() as connection:
            return connection.execute(statement).rowcount

    def _purge_if_due(self) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last_purge < self._purge_every:
                return
            self._last_purge = now
        removed = self.purge_expired()
        if removed:
            log.debug("forgot %d expired JWT ids", removed)
