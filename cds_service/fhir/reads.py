"""What one hook call reads from fhirServer: a byte budget, and the sockets still reading.

One `CallReads` is shared by all of a call's searches (they run concurrently, `history.py`)
and all their pages. The budget bounds the patient data a call can hold: a server answering
each page with tens of megabytes and a `next` link once grew a worker past a gigabyte before
the page cap stopped it. Bytes are counted as they arrive (decoded, as they are kept), so a
call stops reading at its budget, not after a page has been read whole.

When the call stops waiting for its searches (its deadline), `give_up` shuts the sockets of
the reads still running: a thread left behind then ends at once instead of holding a
connection to the server for as long as the server trickles bytes.

`read_body` reads a streamed body so that no wait on the socket outlasts the time left; the
issuers' JWK Sets are read with it too (`auth/keys.py`).
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator

import requests

from cds_service.fhir.errors import FhirBadResponse


class CallReads:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._read = 0
        self._open: set[socket.socket] = set()
        self._given_up = False
        self._lock = threading.Lock()

    def count(self, size: int) -> None:
        """Counts `size` more bytes read; past the budget the search reading them fails."""
        with self._lock:
            self._read += size
            over = self._read > self.max_bytes
        if over:
            raise FhirBadResponse(
                f"the FHIR answers of this call exceed {self.max_bytes} bytes "
                "(CDS_FHIR_MAX_BYTES_PER_CALL)"
            )

    @contextlib.contextmanager
    def reading(self, sock: socket.socket | None) -> Iterator[None]:
        """Around reading a body from `sock`: shut by `give_up` while it lasts."""
        if sock is None:
            yield
            return
        with self._lock:
            given_up = self._given_up
            self._open.add(sock)
        try:
            if given_up:
                _shut(sock)
            yield
        finally:
            with self._lock:
                self._open.discard(sock)

    def give_up(self) -> None:
        """Shuts every socket still being read, and any a search starts reading later."""
        with self._lock:
            self._given_up = True
            still_open = list(self._open)
        for sock in still_open:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # shutdown, not close: the reading thread owns the socket (and closes it as it unwinds);
    # shutdown wakes its blocked recv with an end of file.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_CHUNK_BYTES = 64 * 1024  # the most taken from the socket at once; less when less has come


def read_body(
    response: requests.Response,
    time_left: Callable[[], float],
    read_timeout: float,
    count: Callable[[int], None],
) -> bytearray:
    """A streamed body as it arrives (urllib3 2's `read1`: what has come, never waiting to
    fill a chunk), each wait on the socket no longer than `time_left()` (which raises when
    no time is left); `count` is given each piece's size as it arrives (and may raise).

    With a Content-Length, a read of 64 KiB used to wait for all of it, and a server sending
    a byte now and then reset the read timeout with each one: a call outlived its deadline
    by as long as the server liked."""
    sock = socket_of(response)
    body = bytearray()
    while True:
        wait = min(read_timeout, time_left())
        if sock is not None:
            sock.settimeout(wait)
        chunk = response.raw.read1(_CHUNK_BYTES, decode_content=True)
        if not chunk:
            return body
        count(len(chunk))
        body += chunk


def socket_of(response: requests.Response) -> socket.socket | None:
    """The socket a streamed body comes from (urllib3 2 keeps the connection with it)."""
    connection = getattr(response.raw, "connection", None)
    return getattr(connection, "sock", None)
