"""Card, suggestion and consult UUIDs: random version 4, never repeated, not across threads and
not across the forked gunicorn workers that share a parent."""

from __future__ import annotations

import os
import threading
import uuid
import warnings

from cds_service.card_ids import new_uuid


def test_uuids_are_random_version_4_and_never_repeat():
    drawn = [new_uuid() for _ in range(10_000)]  # dozens of 4 KiB batches

    assert len(set(drawn)) == len(drawn)
    parsed = [uuid.UUID(text) for text in drawn]
    assert {u.version for u in parsed} == {4}
    assert {u.variant for u in parsed} == {uuid.RFC_4122}


def test_threads_drawing_at_once_never_get_the_same_uuid():
    drawn: list[list[str]] = [[] for _ in range(8)]

    def draw(into: list[str]) -> None:
        into.extend(new_uuid() for _ in range(2_000))

    threads = [threading.Thread(target=draw, args=(into,)) for into in drawn]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    every = [text for into in drawn for text in into]
    assert len(every) == 16_000 and len(set(every)) == 16_000


def test_a_forked_worker_never_repeats_its_parents_uuids():
    new_uuid()  # the parent holds a batch of random bytes when gunicorn forks
    reading, writing = os.pipe()
    with warnings.catch_warnings():  # 3.12 warns about forking with threads (the test's own)
        warnings.simplefilter("ignore", DeprecationWarning)
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(writing, "\n".join(new_uuid() for _ in range(20)).encode())
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as pipe:
        childs = set(pipe.read().split("\n"))
    os.waitpid(child, 0)
    parents = {new_uuid() for _ in range(20)}

    assert len(childs) == 20 and not childs & parents
