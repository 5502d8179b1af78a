"""The sockets behind load balancer listeners, on 127.0.0.1 only, each on a free port: an HTTP server for HTTP and
HTTPS listeners (HTTPS is served as plain HTTP: there is no certificate locally) and a TCP forwarder for TCP and TLS
listeners (TLS is not terminated either). What to answer, or where to connect, is the caller's `handle`/`connect`;
whether a client may connect at all is its `admit` (the load balancer's security groups): a client it refuses is
disconnected before a byte is read. Closing a listener closes its port and every connection it holds."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlops_cli.emulator.balancing.messages import HOP_BY_HOP, Answer, Request, load_balancer_error
from mlops_cli.emulator.protocol import HOST

_POLL = 0.2  # seconds: how soon a closed listener's accept loop notices
_BUFFER = 64 * 1024
_HEADER_BYTES = 64 * 1024


class _Connections:
    """The connections a listener holds open, so that closing it ends them too."""

    def __init__(self) -> None:
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._open.discard(connection)

    def close_all(self) -> None:
        with self._lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


Admit = Callable[[str], bool]  # the client's IP address -> may it connect


def _everyone(_client_ip: str) -> bool:
    return True


class _AdmittingServer(socketserver.TCPServer):
    owner: Any

    def verify_request(self, request: Any, client_address: Any) -> bool:
        # as a security group drops the packets of a source it does not allow, before any protocol
        return bool(self.owner.admit(client_address[0]))


class _Listener:
    kind = ""
    admit: Admit = staticmethod(_everyone)

    def __init__(self, server: socketserver.TCPServer, label: str) -> None:
        self.label = label
        self.connections = _Connections()
        self._server = server
        self.port: int = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": _POLL}, name=f"listener-{self.port}", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.connections.close_all()


# -------------------------------------------------------------------------------------------------------- HTTP


class _HttpServer(_AdmittingServer, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: HttpListener


class _HttpHandler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"  # keep-alive, as a load balancer offers

    def setup(self) -> None:
        super().setup()
        self.server.owner.connections.track(self.connection)

    def finish(self) -> None:
        self.server.owner.connections.untrack(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def _body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(_HEADER_BYTES)
                try:
                    size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                except ValueError:
                    return None
                if size == 0:
                    while self.rfile.readline(_HEADER_BYTES) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(_HEADER_BYTES)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        try:
            return self.rfile.read(int(length))
        except ValueError:
            return None

    def _serve(self) -> None:
        owner = self.server.owner
        body = self._body()
        if body is None:
            self._write(load_balancer_error(400, "the request body is malformed"))
            self.close_connection = True
            return
        path, _question, query = self.path.partition("?")
        request = Request(
            method=self.command,
            path=path,
            query=query,
            headers=[(name, value) for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP],
            body=body,
            client_ip=self.client_address[0],
            listener_protocol=owner.protocol,
            listener_port=owner.listener_port,
            local_port=owner.port,
        )
        try:
            answer = owner.handle(request)
        except Exception as exc:  # a bug in the emulator: the client gets what an ALB's own failure looks like
            answer = load_balancer_error(500, f"{type(exc).__name__}: {exc}")
        self._write(answer)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = _serve

    def do_TRACE(self) -> None:
        self._write(load_balancer_error(405, "Application Load Balancers do not support TRACE"))

    def _write(self, answer: Answer) -> None:
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.headers:
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        length = str(len(answer.body))
        if self.command == "HEAD":  # no body: the length is the one a GET would have
            length = answer.header("Content-Length") or length
        self.send_header("Content-Length", length)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)
        self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access logs are off by default on a load balancer


class HttpListener(_Listener):
    kind = "http"

    def __init__(
        self,
        label: str,
        protocol: str,
        listener_port: int,
        handle: Callable[[Request], Answer],
        port: int = 0,
        admit: Admit = _everyone,
    ) -> None:
        self.protocol = protocol
        self.listener_port = listener_port
        self.handle = handle
        self.admit = admit
        server = _HttpServer((HOST, port), _HttpHandler)
        server.owner = self
        super().__init__(server, label)


# --------------------------------------------------------------------------------------------------------- TCP


class _TcpServer(_AdmittingServer, socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: TcpListener


class _Forward(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        owner = self.server.owner
        client: socket.socket = self.request
        owner.connections.track(client)
        try:
            upstream = owner.connect()
            if upstream is None:
                return  # no reachable target: the connection is closed, as a load balancer resets it
            owner.connections.track(upstream)
            try:
                _splice(client, upstream)
            finally:
                owner.connections.untrack(upstream)
                upstream.close()
        finally:
            owner.connections.untrack(client)


def _copy(source: socket.socket, destination: socket.socket) -> None:
    try:
        while data := source.recv(_BUFFER):
            destination.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        destination.shutdown(socket.SHUT_WR)


def _splice(client: socket.socket, upstream: socket.socket) -> None:
    upstream.settimeout(None)
    back = threading.Thread(target=_copy, args=(upstream, client), daemon=True)
    back.start()
    _copy(client, upstream)
    back.join()


class TcpListener(_Listener):
    kind = "tcp"

    def __init__(
        self, label: str, connect: Callable[[], socket.socket | None], port: int = 0, admit: Admit = _everyone
    ) -> None:
        self.connect = connect
        self.admit = admit
        server = _TcpServer((HOST, port), _Forward)
        server.owner = self
        super().__init__(server, label)
