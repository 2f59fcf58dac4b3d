"""Random (version 4) UUIDs for cards, suggestions and rating consults, drawn in batches.

`uuid.uuid4()` reads 16 bytes from `os.urandom` each time, and that call lets go of the GIL:
under gunicorn's threads, a hook call that asked for its four UUIDs queued four times for the
GIL behind other calls' Python (the render stage took 15 ms of wall time for 0.3 of work).
Here each thread takes 4 KiB from `os.urandom` at once and cuts UUIDs from it: the same
randomness, one wait per 256 UUIDs. A forked child forgets its parent's bytes, so that two
workers never hand out the same UUIDs. (Under the Procfile's gevent workers a thread-local is
a greenlet's, so each call takes its own 4 KiB: about 14 us, and no GIL wait there.)
"""

from __future__ import annotations

import os
import threading
import uuid

_UUID_BYTES = 16
_BATCH = 256


class _UuidBatches(threading.local):
    def __init__(self) -> None:
        self.random_bytes = b""
        self.offset = 0


_batches = _UuidBatches()


def new_uuid() -> str:
    """A random UUID (RFC 9562 version 4), as text."""
    batch = _batches
    if batch.offset >= len(batch.random_bytes):
        batch.random_bytes = os.urandom(_UUID_BYTES * _BATCH)
        batch.offset = 0
    start = batch.offset
    batch.offset = start + _UUID_BYTES
    return str(uuid.UUID(bytes=batch.random_bytes[start : start + _UUID_BYTES], version=4))


def _forget_parent_bytes() -> None:
    global _batches
    _batches = _UuidBatches()


os.register_at_fork(after_in_child=_forget_parent_bytes)
