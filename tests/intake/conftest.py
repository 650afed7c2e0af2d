"""A local HTTP server for tests that need one (captcha verifier, sitemap URLs)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest


@dataclass
class LocalServer:
    """Answers every request with ``respond(path, form) -> (status, content_type, body)``
    and remembers what it was sent."""

    url: str
    respond: Callable[[str, dict[str, str]], tuple[int, str, bytes]]
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    server_state: dict[str, LocalServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, form: dict[str, str]) -> None:
            state = server_state["server"]
            state.requests.append((self.path, form))
            status, content_type, body = state.respond(self.path, form)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            self._answer({key: values[0] for key, values in parse_qs(raw).items()})

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state = LocalServer(
        url=f"http://127.0.0.1:{httpd.server_address[1]}",
        respond=lambda path, form: (404, "text/plain", b"not found"),
    )
    server_state["server"] = state
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def cache_keys() -> Callable[[], list[str]]:
    """Every key in the default cache, on locmem (SQLite runs) or Redis."""
    from django.core.cache import cache

    def keys() -> list[str]:
        backend = cache._cache  # the backend's own client
        if hasattr(backend, "get_client"):
            return [key.decode() for key in backend.get_client().scan_iter()]
        return list(backend.keys())

    return keys
