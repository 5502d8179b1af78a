"""A request as a listener received it, the headers a load balancer adds when it passes it on, and the answer
it sends back (the load balancer's own error pages included). Shared by the listener, the rules, the forwarding to
targets and the Lambda event. Pure."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

# Hop-by-hop headers (RFC 9110 7.6.1): a proxy never forwards them, either way.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string, as the client sent it (not decoded)
    query: str  # without the "?"
    headers: list[tuple[str, str]]  # in order, names as sent
    body: bytes
    client_ip: str
    listener_protocol: str  # HTTP or HTTPS (served as plain HTTP locally)
    listener_port: int  # the listener's Port in the API (80, 443), for X-Forwarded-Port
    local_port: int  # where the emulator listens for it

    def header(self, name: str) -> str | None:
        """The last value of a header (case-insensitive), as a load balancer keeps one value."""
        wanted = name.lower()
        found = None
        for key, value in self.headers:
            if key.lower() == wanted:
                found = value
        return found

    def host_and_port(self) -> tuple[str, str | None]:
        """The Host header split into host and port ("[::1]:80" → ("[::1]", "80")); ("", None) without one."""
        host = (self.header("Host") or "").strip()
        if host.endswith("]") or ":" not in host:
            return host, None
        name, _colon, port = host.rpartition(":")
        return name, port

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    reason: str | None = None  # the reason phrase, when the target (or a Lambda's statusDescription) gave one

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in reversed(self.headers) if key.lower() == wanted), None)


_FORWARDING = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"})


def trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"


def forwarded_headers(request: Request) -> list[tuple[str, str]]:
    """The request's headers as a load balancer passes them on: hop-by-hop ones dropped, X-Forwarded-For/-Port/
    -Proto and X-Amzn-Trace-Id added."""
    headers = [(name, value) for name, value in request.headers if name.lower() not in HOP_BY_HOP]
    previous = next((value for name, value in headers if name.lower() == "x-forwarded-for"), None)
    headers = [(name, value) for name, value in headers if name.lower() not in _FORWARDING]
    headers += [
        ("X-Forwarded-For", f"{previous}, {request.client_ip}" if previous else request.client_ip),
        ("X-Forwarded-Proto", request.listener_protocol.lower()),
        ("X-Forwarded-Port", str(request.listener_port)),
        ("X-Amzn-Trace-Id", request.header("X-Amzn-Trace-Id") or trace_id()),
    ]
    return headers


_TITLES = {
    400: "400 Bad Request",
    405: "405 Method Not Allowed",
    413: "413 Request Entity Too Large",
    500: "500 Internal Server Error",
    501: "501 Not Implemented",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


def load_balancer_error(status: int, detail: str | None = None) -> Answer:
    """An error the load balancer itself answers, with the page and Server header an ALB sends. `detail` (why the
    emulator answered so) goes into an HTML comment and a header, for whoever debugs it."""
    title = _TITLES.get(status, str(status))
    comment = f"<!-- mlops emulator: {detail} -->\r\n" if detail else ""
    body = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n{comment}"
    headers = [("Server", "awselb/2.0"), ("Content-Type", "text/html")]
    if detail:
        one_line = " ".join(detail.split()).encode("ascii", "replace").decode()
        headers.append(("X-Mlops-Emulator-Reason", one_line[:500]))
    return Answer(status, headers, body.encode())
