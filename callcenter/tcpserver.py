"""The one TCP server with a thread per connection (the standard library's socketserver), for listeners whose
work is blocking: socket reads and writes and synchronous database sessions in the connection's own thread,
never on the event loop. FastAGI (fastagi/server.py) and HL7's MLLP listener (hl7/listener.py) use it.

`on_connection(sock, peer)` serves one connection; socketserver closes the socket when it returns. A failure
in it is logged (socketserver would print the traceback to stderr, outside the log) and ends that connection
only."""
from __future__ import annotations

import logging
import socket
import socketserver
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# How often the accepting loop looks whether it must stop: shutdown() waits up to this long.
POLL_SECONDS = 0.1


class ThreadedTcpServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], on_connection: Callable[[socket.socket, tuple], None], *,
                 name: str, wait_for_connections: bool):
        """`wait_for_connections`: server_close() joins the connections' threads (their owner must end them
        first, e.g. by shutting their sockets down); False leaves them as daemon threads (FastAGI: a routed
        call's connection lasts as long as the call)."""
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.daemon_threads = not wait_for_connections
        self.block_on_close = wait_for_connections
        self.on_connection, self.name = on_connection, name
        super().__init__(address, _Handler)

    def start(self) -> threading.Thread:
        """Accept connections in a thread of its own; stop with shutdown() then server_close()."""
        thread = threading.Thread(target=self.serve_forever, args=(POLL_SECONDS,), name=self.name,
                                  daemon=True)
        thread.start()
        return thread


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        try:
            self.server.on_connection(self.request, self.client_address)
        except Exception:
            log.exception("%s: a connection from %s failed", self.server.name, self.client_address[0])
