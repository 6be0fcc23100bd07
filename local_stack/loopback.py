"""The lifecycle the local stack's HTTP fronts share: bind a loopback port, serve in a daemon thread, stop.

:class:`local_stack.gateway.ApiGatewayEmulator` (API Gateway) and :class:`local_stack.cdn.CdnEmulator`
(CloudFront) are both a :class:`LoopbackServer` with their own request handler.
"""

from __future__ import annotations

import abc
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class LoopbackServer(abc.ABC):
    """A threading HTTP server on ``host:port`` with start/stop and a context manager.

    Subclasses implement :meth:`handler_class` (the request handler bound to the instance) and may set
    :attr:`thread_name`.
    """

    thread_name = "http"

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @abc.abstractmethod
    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class serving this instance."""

    @property
    def url(self) -> str:
        """Base URL, ``http://host:port`` (no trailing slash).

        Raises:
            RuntimeError: not started.
        """
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Bind ``host:port`` (0 → a free port), serve in a daemon thread, return :attr:`url`.

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: already started.
        """
        if self._server is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        server = ThreadingHTTPServer((host, port), self.handler_class())
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket (idempotent). Requests in flight finish in their threads."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
