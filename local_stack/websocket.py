"""The local stack's WebSocket API: API Gateway's WebSocket side on the API front's origin.

:class:`local_stack.gateway.ApiGatewayEmulator` hands two kinds of request here:

- ``GET /ws?key=<api key>`` with ``Upgrade: websocket`` (after its own key and usage-plan checks, which
  answer 403 / 429 like API Gateway; the key is checked against the front's keys, or, given an
  ``authorizer``, by that Lambda authorizer as on AWS): the ``$connect`` event goes to the connection handler (the real
  ``functions/ws_connections`` handler); a 2xx answer completes the handshake (101), anything else
  refuses it with that status. Then each text frame becomes the event of the route it selects
  (``$request.body.action``: ``subscribe``, ``unsubscribe``, else ``$default``), and the end of the
  connection the ``$disconnect`` event (:mod:`local_stack.ws_event` builds them).
- the management API, ``POST / GET / DELETE /@connections/{connectionId}`` (the paths boto3's
  ``apigatewaymanagementapi`` client calls, with or without a stage prefix), from loopback callers only:
  how the connection handler and the notifier reach clients, as ``PostToConnection`` does on AWS.
  An unknown or closed connection is 410 ``GoneException``.

The WebSocket protocol itself (handshake, framing, close, ping/pong, UTF-8 checks, message size) is the
``websockets`` package's sans-I/O :class:`websockets.server.ServerProtocol`; this module owns the
sockets. Each connection has a reader (the HTTP request's thread) and a writer thread fed by a bounded
queue: a client that stops reading fills only its own queue, and the post that finds it full drops the
connection (410), so one slow client never holds up the others.

Example::

    front = WebSocketFront(connections_handler)
    gateway = ApiGatewayEmulator(api_handler, api_keys=…, websocket=front, …)
"""

from __future__ import annotations

import base64
import queue
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Final

from websockets.frames import Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from local_stack import ws_event
from local_stack.proxy_event import ACCOUNT_ID, API_ID, REGION, STAGE, LambdaContext, make_context
from stickers_core import limits, realtime

#: The path of the WebSocket endpoint on the API front.
WS_PATH: Final = "/ws"
#: The ``$connect`` route's ARN, as the authorizer sees it (``methodArn``).
CONNECT_ARN: Final = f"arn:aws:execute-api:{REGION}:{ACCOUNT_ID}:{API_ID}/{STAGE}/$connect"
#: Close codes (RFC 6455).
GOING_AWAY: Final = 1001
ABNORMAL: Final = 1006

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class _Connection:
    """One open connection: its protocol state, socket, writer queue and what ``$disconnect`` needs."""

    connection_id: str
    key_id: str
    protocol: ServerProtocol
    sock: socket.socket
    source_ip: str
    user_agent: str | None
    domain_name: str
    connected_at_ms: int
    outbox: queue.Queue[list[bytes] | None]
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: threading.Event = field(default_factory=threading.Event)
    last_active_ms: int = 0
    dropped_reason: str | None = None


class WebSocketFront:
    """The WebSocket side of the local API front.

    Args:
        handler: the connection handler, ``handler(event, context) -> {"statusCode": …}``.
        routes: the custom route keys (others go to ``$default``).
        send_queue_max: messages waiting for one connection's socket at most; one more drops it.
        max_message_bytes: largest client message (API Gateway's 128 KB); a larger one closes the
            connection with 1009.
        function_name: the connection function's name in the context object.
        access_log: write one line per connect / disconnect to stderr.
        authorizer: a Lambda REQUEST authorizer of ``$connect`` (``functions/ws_authorizer``'s handler, or
            its artifact); None: the API front's own key list decides.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        routes: tuple[str, ...] = realtime.ROUTES,
        send_queue_max: int = limits.WS_SEND_QUEUE_MAX,
        max_message_bytes: int = limits.WS_MESSAGE_MAX_BYTES,
        function_name: str = "stickers-ws-connections",
        timeout_s: float = 29.0,
        access_log: bool = False,
        authorizer: Handler | None = None,
    ) -> None:
        self.handler = handler
        self.authorizer = authorizer
        self.routes = routes
        self.send_queue_max = send_queue_max
        self.max_message_bytes = max_message_bytes
        self.function_name = function_name
        self.timeout_s = timeout_s
        self.access_log = access_log
        self._connections: dict[str, _Connection] = {}
        self._lock = threading.Lock()
        # One Lambda execution environment handles one event at a time (Powertools' Logger keeps state).
        self._invoke_lock = threading.Lock()
        #: Connections dropped because their send queue overflowed (a client that stopped reading).
        self.dropped_slow = 0

    # --- the handshake and the connection's life ---------------------------------------------------------
    def authorize(self, request: BaseHTTPRequestHandler, key_value: str) -> str | None:
        """Ask the authorizer about a handshake: the API key id it allows, or None (refused: 403)."""
        assert self.authorizer is not None
        connect = ws_event.connect_event(
            connection_id=ws_event.new_connection_id(), raw_path=request.path, headers=list(request.headers.items()),
            source_ip=request.client_address[0], key_value=key_value, key_id="", connected_at_ms=int(time.time() * 1000),
            request_id=str(uuid.uuid4()),
        )  # fmt: skip
        event = ws_event.authorizer_event(connect, method_arn=CONNECT_ARN)
        context = make_context(event["requestContext"]["requestId"], function_name=f"{self.function_name}-authorizer", timeout_s=10)
        try:
            return ws_event.allowed_key_id(self.authorizer(event, context), CONNECT_ARN)
        except Exception:  # noqa: BLE001 - the authorizer failed: API Gateway answers 500; the connect is refused either way
            traceback.print_exc(file=sys.stderr)
            return None

    def serve(self, request: BaseHTTPRequestHandler, *, key_value: str, key_id: str) -> None:
        """Take over one HTTP request that asks for a WebSocket (the key is already checked): answer
        the handshake, then read the connection until it ends. Returns when the connection is closed."""
        sock: socket.socket = request.connection
        protocol = ServerProtocol(max_size=self.max_message_bytes)
        # The HTTP server has read the request already; the protocol parses it again from its bytes (its
        # parser must see the request before the frames that follow it).
        head = f"{request.command} {request.path} HTTP/1.1\r\n" + "".join(f"{n}: {v}\r\n" for n, v in request.headers.items())
        protocol.receive_data((head + "\r\n").encode("latin-1"))
        parsed = protocol.events_received()
        if len(parsed) != 1 or not isinstance(parsed[0], Request):
            _shutdown(sock)
            return
        response = protocol.accept(parsed[0])
        if response.status_code != 101:  # not a valid WebSocket handshake (websockets' 400 / 426)
            protocol.send_response(response)
            self._write_now(sock, protocol)
            return
        connection_id = ws_event.new_connection_id()
        connected_at_ms = int(time.time() * 1000)
        source_ip = request.client_address[0]
        host = request.headers.get("Host") or "127.0.0.1"
        event = ws_event.connect_event(
            connection_id=connection_id, raw_path=request.path, headers=list(request.headers.items()), source_ip=source_ip,
            key_value=key_value, key_id=key_id, connected_at_ms=connected_at_ms, request_id=str(uuid.uuid4()),
        )  # fmt: skip
        status = self._invoke_status(event)
        if not 200 <= status < 300:
            text = {403: "Forbidden", 429: "Too Many Requests"}.get(status, "Internal server error")
            protocol.send_response(protocol.reject(status, f'{{"message": "{text}"}}'))
            self._write_now(sock, protocol)
            self._log(f"ws connect refused {status} key={key_id}")
            return
        conn = _Connection(
            connection_id=connection_id, key_id=key_id, protocol=protocol, sock=sock, source_ip=source_ip,
            user_agent=request.headers.get("User-Agent"), domain_name=host, connected_at_ms=connected_at_ms,
            outbox=queue.Queue(maxsize=self.send_queue_max), last_active_ms=connected_at_ms,
        )  # fmt: skip
        protocol.send_response(response)
        self._write_now(sock, protocol)
        with self._lock:
            self._connections[connection_id] = conn
        writer = threading.Thread(target=self._write_loop, args=(conn,), name=f"ws-writer-{connection_id}", daemon=True)
        writer.start()
        self._log(f"ws connect {connection_id} key={key_id}")
        try:
            self._read_loop(conn, request)
        finally:
            self._finish(conn)
            writer.join(timeout=5)

    def _read_loop(self, conn: _Connection, request: BaseHTTPRequestHandler) -> None:
        conn.sock.settimeout(None)
        while not conn.closed.is_set():
            try:
                data = request.rfile.read1(65536)
            except (OSError, ValueError):
                data = b""
            with conn.lock:
                if data:
                    conn.protocol.receive_data(data)
                else:
                    conn.protocol.receive_eof()
                frames = conn.protocol.events_received()
                out = conn.protocol.data_to_send()
            if out:
                self._enqueue(conn, out)
            for frame in frames:
                conn.last_active_ms = int(time.time() * 1000)
                if frame.opcode is Opcode.TEXT:
                    self._message(conn, frame.data.decode("utf-8"), is_base64=False)
                elif frame.opcode is Opcode.BINARY:
                    self._message(conn, base64.b64encode(frame.data).decode("ascii"), is_base64=True)
            if not data or conn.protocol.state is State.CLOSED:
                return

    def _message(self, conn: _Connection, body: str, *, is_base64: bool) -> None:
        request_id = str(uuid.uuid4())
        route = ws_event.DEFAULT if is_base64 else ws_event.route_key(body, self.routes)
        event = ws_event.message_event(
            connection_id=conn.connection_id, route=route, body=body, is_base64=is_base64, source_ip=conn.source_ip,
            user_agent=conn.user_agent, domain_name=conn.domain_name, connected_at_ms=conn.connected_at_ms,
            request_id=request_id, message_id=ws_event.new_connection_id(),
        )  # fmt: skip
        if self._invoke_status(event) >= 500:
            # API Gateway tells the client when the integration failed
            note = {"message": "Internal server error", "connectionId": conn.connection_id, "requestId": request_id}
            self.post(conn.connection_id, realtime.encode(note))

    def _finish(self, conn: _Connection) -> None:
        """The connection ended: forget it, stop its writer, close the socket, send ``$disconnect``."""
        with self._lock:
            self._connections.pop(conn.connection_id, None)
        conn.closed.set()
        try:
            conn.outbox.put_nowait(None)
        except queue.Full:
            pass
        received = conn.protocol.close_rcvd  # the client's close frame, if it sent one
        code = received.code if received is not None and conn.dropped_reason is None else ABNORMAL
        reason = conn.dropped_reason or (received.reason if received is not None else "") or "Connection closed"
        _shutdown(conn.sock)
        event = ws_event.disconnect_event(
            connection_id=conn.connection_id, status_code=code, reason=reason, source_ip=conn.source_ip, user_agent=conn.user_agent,
            domain_name=conn.domain_name, connected_at_ms=conn.connected_at_ms, request_id=str(uuid.uuid4()),
        )  # fmt: skip
        self._invoke_status(event)
        self._log(f"ws disconnect {conn.connection_id} {code} {reason}")

    def _write_loop(self, conn: _Connection) -> None:
        while True:
            item = conn.outbox.get()
            if item is None:
                return
            try:
                for chunk in item:
                    if chunk:
                        conn.sock.sendall(chunk)
                    else:  # the protocol's end of stream: the closing handshake is done on our side
                        conn.sock.shutdown(socket.SHUT_WR)
            except OSError:
                self._abort(conn, "socket error")
                return

    def _enqueue(self, conn: _Connection, chunks: list[bytes]) -> bool:
        try:
            conn.outbox.put_nowait(chunks)
            return True
        except queue.Full:
            self.dropped_slow += 1
            self._abort(conn, "send queue overflow: the client does not read")
            return False

    def _abort(self, conn: _Connection, reason: str) -> None:
        """Drop a connection at once (its reader sees the end and sends ``$disconnect``)."""
        with self._lock:
            self._connections.pop(conn.connection_id, None)
        if conn.dropped_reason is None:
            conn.dropped_reason = reason
        conn.closed.set()
        _shutdown(conn.sock)

    @staticmethod
    def _write_now(sock: socket.socket, protocol: ServerProtocol) -> None:
        try:
            for chunk in protocol.data_to_send():
                if chunk:
                    sock.sendall(chunk)
        except OSError:
            pass

    def _invoke_status(self, event: dict[str, Any]) -> int:
        context: LambdaContext = make_context(
            event["requestContext"]["requestId"], function_name=self.function_name, timeout_s=self.timeout_s
        )
        try:
            with self._invoke_lock:
                return ws_event.status_of(self.handler(event, context))
        except Exception:  # noqa: BLE001 - the integration failed: API Gateway answers 500 / tells the client
            sys.stderr.write(f"ws: {event['requestContext']['routeKey']} handler failed\n")
            traceback.print_exc(file=sys.stderr)
            return 500

    def _log(self, line: str) -> None:
        if self.access_log:
            sys.stderr.write(line + "\n")

    # --- the management API ----------------------------------------------------------------------------------
    def _get(self, connection_id: str) -> _Connection | None:
        with self._lock:
            return self._connections.get(connection_id)

    def post(self, connection_id: str, data: bytes) -> bool:
        """``PostToConnection``: queue `data` as one text frame. False: the connection is gone (or was
        just dropped because its queue is full)."""
        conn = self._get(connection_id)
        if conn is None or conn.closed.is_set():
            return False
        with conn.lock:
            if conn.protocol.state is not State.OPEN:
                return False
            conn.protocol.send_text(data)
            chunks = conn.protocol.data_to_send()
        return self._enqueue(conn, chunks)

    def info(self, connection_id: str) -> dict[str, Any] | None:
        """``GetConnection``: when it connected, who, when it was last active (None: gone)."""
        conn = self._get(connection_id)
        if conn is None:
            return None
        identity = {"sourceIp": conn.source_ip, **({"userAgent": conn.user_agent} if conn.user_agent else {})}
        return {"connectedAt": _iso(conn.connected_at_ms), "identity": identity, "lastActiveAt": _iso(conn.last_active_ms)}

    def delete(self, connection_id: str) -> bool:
        """``DeleteConnection``: close the connection (1001); False when it is gone."""
        conn = self._get(connection_id)
        if conn is None:
            return False
        self.close(conn, GOING_AWAY, "Going away")
        return True

    def close(self, conn: _Connection, code: int, reason: str) -> None:
        """Start the closing handshake; the connection is dropped if the client does not answer in 2 s."""
        with conn.lock:
            if conn.protocol.state is State.OPEN:
                conn.protocol.send_close(code, reason)
            chunks = conn.protocol.data_to_send()
        if chunks:
            self._enqueue(conn, chunks)
        timer = threading.Timer(2.0, self._abort, args=(conn, reason))
        timer.daemon = True
        timer.start()

    @property
    def connection_ids(self) -> list[str]:
        """The open connections."""
        with self._lock:
            return list(self._connections)

    def close_all(self) -> None:
        """Drop every connection (the front is stopping)."""
        with self._lock:
            connections = list(self._connections.values())
        for conn in connections:
            self._abort(conn, "Going away")


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
