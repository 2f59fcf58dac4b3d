"""How gunicorn serves the app; the Procfile names the two classes here.

`HookWorker` is gunicorn's gevent worker with three bounds a red team showed missing
(issue 19 §1 and §6):

- **Time to send a request.** A client has `CDS_REQUEST_READ_TIMEOUT` seconds to send a
  request's head, and as many again for its body (read whole, here, before the app runs);
  past that it gets 408 and the connection is closed. Idle or trickling connections cannot
  pile up: gevent keeps a thousand of them per worker at little cost, and each goes away.
- **Work in progress.** A worker works on at most `CDS_WORKER_CALLS` calls (POSTs) at once;
  others wait for a slot for up to `CDS_HOOK_DEADLINE` seconds, then get 503. GETs
  (`/healthz`, discovery, metrics) never wait behind calls. A body is read only once its
  call has a slot, so bodies in memory are bounded too.
- **Answers gunicorn writes itself** (400 for a malformed request, 414, 431, and this
  worker's 408/413/503) are JSON OperationOutcomes like every answer of the app.

`OneLineLogger` is gunicorn's logger with every record's control characters escaped: a
Basic-auth user name in the access log or a refused header cannot forge a log line.
"""

from __future__ import annotations

import io
import json
import socket
from datetime import timedelta
from typing import Any

from gevent import Timeout, getcurrent
from gevent.lock import BoundedSemaphore
from gunicorn import util
from gunicorn.glogging import Logger
from gunicorn.http.wsgi import Response, default_environ
from gunicorn.workers.ggevent import GeventWorker

from cds_service.log_lines import OneLineRecords
from cds_service.settings import Settings
from cds_service.web.errors import operation_outcome


class Refusal(Exception):
    """A request this worker answers itself, before or instead of the app."""

    status = 400
    reason = "Bad Request"
    headers: tuple[tuple[str, str], ...] = ()


class RequestNotReadInTime(Refusal):
    status = 408
    reason = "Request Timeout"


class RequestBodyTooLarge(Refusal):
    status = 413
    reason = "Content Too Large"


class WorkerBusy(Refusal):
    status = 503
    reason = "Service Unavailable"
    headers = (("Retry-After", "1"),)


class HookWorker(GeventWorker):
    """gunicorn's gevent worker, bounding the time to send a request and the calls in
    progress, and answering its own refusals as JSON."""

    def init_process(self) -> None:
        settings = Settings.from_environ()
        self._read_seconds = settings.request_read_timeout_seconds
        self._max_body_bytes = settings.max_request_bytes
        self._slot_wait_seconds = settings.hook_deadline_seconds
        self._calls = settings.worker_calls
        self._call_slots = BoundedSemaphore(settings.worker_calls)
        self._read_timers: dict[Any, Timeout] = {}
        # gunicorn writes its own refusals (malformed request, 414, 431) with this function.
        util.write_error = write_json_error
        super().init_process()

    def handle(self, listener, client, addr) -> None:
        connection = getcurrent()
        self._read_timers[connection] = Timeout.start_new(
            self._read_seconds,
            RequestNotReadInTime(f"The request was not received within {self._read_seconds:g} s."),
        )
        try:
            super().handle(listener, client, addr)
        except RequestNotReadInTime:
            pass  # fired while gunicorn was already closing the connection
        finally:
            self._read_timers.pop(connection).close()

    def handle_request(self, listener_name, req, sock, addr) -> None:
        timer = self._read_timers[getcurrent()]
        timer.cancel()  # the head is read; a GET has no body to wait for
        if req.method != "POST":
            super().handle_request(listener_name, req, sock, addr)
            return
        if not self._call_slots.acquire(timeout=self._slot_wait_seconds):
            raise WorkerBusy(
                f"This instance is working on {self._calls} calls per worker; try again."
            )
        try:
            timer.start()
            req.body = io.BytesIO(self._whole_body(req))
            timer.cancel()
            super().handle_request(listener_name, req, sock, addr)
        finally:
            timer.cancel()
            self._call_slots.release()

    def _whole_body(self, req) -> bytes:
        """The body, read now (under the read timer), refused as soon as it is too large:
        a chunked body has no Content-Length to check first."""
        declared = _content_length(req)
        if declared is not None and declared > self._max_body_bytes:
            raise _too_large(self._max_body_bytes)
        body = req.body.read(self._max_body_bytes + 1)
        if len(body) > self._max_body_bytes:
            raise _too_large(self._max_body_bytes)
        return body

    def handle_error(self, req, client, addr, exc) -> None:
        timer = self._read_timers.get(getcurrent())
        if timer is not None:
            timer.cancel()
        if not isinstance(exc, Refusal):
            super().handle_error(req, client, addr, exc)
            return
        self.log.info("Refused a request with %d: %s", exc.status, exc)
        if req is not None:
            self._log_access(req, client, addr, exc)
        try:
            write_json_error(client, exc.status, exc.reason, str(exc), exc.headers)
        except OSError:
            self.log.debug("Failed to send error message.")

    def _log_access(self, req, client, addr, refusal: Refusal) -> None:
        addr = addr or ("", -1)
        environ = default_environ(req, client, self.cfg)
        environ["REMOTE_ADDR"] = addr[0]
        environ["REMOTE_PORT"] = str(addr[1])
        response = Response(req, client, self.cfg)
        response.status = f"{refusal.status} {refusal.reason}"
        self.log.access(response, req, environ, timedelta(0))


class OneLineLogger(Logger):
    """gunicorn's logger; each record's control characters are escaped (log_lines.py)."""

    def setup(self, cfg) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            if not any(isinstance(f, OneLineRecords) for f in logger.filters):
                logger.addFilter(OneLineRecords())


def write_json_error(
    sock: socket.socket,
    status_int: int,
    reason: str,
    mesg: str,
    headers: tuple[tuple[str, str], ...] = (),
) -> None:
    """gunicorn's `util.write_error`, with an OperationOutcome for a body instead of HTML."""
    body = json.dumps(operation_outcome(status_int, mesg or reason)).encode()
    head = [
        f"HTTP/1.1 {status_int} {reason}",
        "Connection: close",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers),
    ]
    util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _content_length(req) -> int | None:
    for name, value in req.headers:
        if name == "CONTENT-LENGTH":
            return int(value)  # gunicorn's parser has checked it is digits
    return None


def _too_large(limit: int) -> RequestBodyTooLarge:
    return RequestBodyTooLarge(f"The body is larger than {limit} bytes (CDS_MAX_REQUEST_BYTES).")
