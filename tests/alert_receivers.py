"""Local receivers for the alerts' and reports' notifications: an SMTP server (aiosmtpd) and an HTTP server
standing in for a Slack-compatible webhook. Each keeps what it received."""

from __future__ import annotations

import email
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Mailbox:
    """What the SMTP server received: (envelope recipients, parsed message)."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        self.messages.append((list(envelope.rcpt_tos), email.message_from_bytes(envelope.content)))  # type: ignore[attr-defined]
        return "250 OK"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, dict[str, str]]]:
    """A local SMTP server and the environment that points Comptoir at it."""
    port = free_port()
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, {"COMPTOIR_SMTP_HOST": "127.0.0.1", "COMPTOIR_SMTP_PORT": str(port),
                    "COMPTOIR_SMTP_SECURITY": "none", "COMPTOIR_MAIL_FROM": "comptoir@shop.test"}
    finally:
        controller.stop()


@contextmanager
def webhook_server() -> Iterator[tuple[list[dict], str]]:
    """A local HTTP receiver: the JSON bodies it was POSTed, and its URL."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield received, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
