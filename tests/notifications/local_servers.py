"""Local stand-ins that count connections: a fake Twilio that keeps them alive, and a
small SMTP server. Used by the delivery tests and by bench/delivery.py.

``KeepAliveFakeTwilio`` is the fake Twilio (tests/fake_twilio.py) speaking HTTP/1.1,
as Twilio does, so a client that reuses its connection is seen to (``opened``
counts the connections), optionally answering each request after ``latency``
seconds. ``LocalSmtpServer`` takes mail on 127.0.0.1, refuses the addresses in
``refused`` at RCPT (550), and counts connections (``opened``) and messages.
"""

from __future__ import annotations

import socketserver
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.fake_twilio import FakeTwilio, _Handler


class KeepAliveFakeTwilio(FakeTwilio):
    def __init__(self, *, latency: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.latency = latency
        self.opened = 0

    def start(self) -> KeepAliveFakeTwilio:
        fake = self

        class Handler(_Handler):
            twilio = fake
            protocol_version = "HTTP/1.1"
            # Headers and body go in two writes: without this, a kept connection
            # waits for the client's delayed ACK (40 ms) between them.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with fake._lock:
                    fake.opened += 1

            def _serve(self) -> None:
                if fake.latency:
                    time.sleep(fake.latency)  # the provider's latency
                super()._serve()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fake-twilio-keepalive", daemon=True
        )
        self._thread.start()
        return self


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class _SmtpState:
    refused: set[str] = field(default_factory=set)
    latency: float = 0.0
    opened: int = 0
    mails: list[Mail] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _SmtpHandler(socketserver.StreamRequestHandler):
    state: _SmtpState

    def _reply(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())

    def handle(self) -> None:
        state = self.state
        with state.lock:
            state.opened += 1
        self._reply("220 local ESMTP")
        sender, recipients = "", []
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250 local")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                self._reply("250 OK")
            elif verb == "RCPT":
                address = command.split(":", 1)[1].strip(" <>")
                if address in state.refused:
                    self._reply("550 No such mailbox")
                else:
                    recipients.append(address)
                    self._reply("250 OK")
            elif verb == "DATA":
                self._reply("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                if state.latency:
                    time.sleep(state.latency)  # the mail server's latency
                with state.lock:
                    state.mails.append(Mail(sender, recipients, data))
                self._reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self._reply("250 OK")
            elif verb == "QUIT":
                self._reply("221 Bye")
                return
            else:
                self._reply("502 Command not implemented")


class LocalSmtpServer:
    def __init__(self, *, refused: set[str] | None = None, latency: float = 0.0) -> None:
        self.state = _SmtpState(refused=set(refused or ()), latency=latency)
        state = self.state

        class Handler(_SmtpHandler):
            pass

        Handler.state = state
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> LocalSmtpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def opened(self) -> int:
        return self.state.opened

    @property
    def mails(self) -> list[Mail]:
        with self.state.lock:
            return list(self.state.mails)
