"""A FHIR server as a busy EHR's looks: every answer held back, the searches in flight counted."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests


@dataclass
class DelayingProxy:
    base_url: str
    most_in_flight: int = 0  # the most requests it was holding or forwarding at one time
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @contextlib.contextmanager
    def forwarding(self) -> Iterator[None]:
        """Around one request held back and forwarded: counts it in flight."""
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            yield
        finally:
            with self._lock:
                self._in_flight -= 1


@contextlib.contextmanager
def delaying_proxy(target: str, delays: dict[str, float]) -> Iterator[DelayingProxy]:
    """A proxy to the FHIR base URL `target` that holds each answer back first, by the
    seconds `delays` gives its resource type.

    Links in the answers (Bundle `next`) are rewritten to the proxy, as a server behind a
    reverse proxy writes them."""
    session = requests.Session()
    proxies: list[DelayingProxy] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            proxy = proxies[0]
            with proxy.forwarding():
                resource_type = self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
                time.sleep(delays.get(resource_type, 0.0))
                headers = {
                    k: v for k, v in self.headers.items() if k in ("Accept", "Authorization")
                }
                answer = session.get(target + self.path.removeprefix("/fhir"), headers=headers)
            body = answer.content.replace(target.encode(), proxy.base_url.encode())
            self.send_response(answer.status_code)
            self.send_header("Content-Type", answer.headers.get("Content-Type", ""))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    proxies.append(DelayingProxy(f"http://127.0.0.1:{httpd.server_address[1]}/fhir"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxies[0]
    finally:
        httpd.shutdown()
        httpd.server_close()
        session.close()
