"""Forwarding one HTTP request to an instance or IP target, and the load balancer's own errors on the way (AWS's
"HTTP 502/504" troubleshooting causes): a refused or reset connection, or a malformed answer, is a 502; no
connection within 10 seconds, or no answer within the load balancer's idle timeout, is a 504."""

from __future__ import annotations

import http.client
import socket

from mlops_cli.emulator.balancing.messages import HOP_BY_HOP, Answer, Request, forwarded_headers, load_balancer_error

CONNECT_TIMEOUT = 10.0  # seconds, as an ALB's target connection timeout
DEFAULT_IDLE_TIMEOUT = 60.0  # idle_timeout.timeout_seconds


def forward(host: str, port: int, request: Request, idle_timeout: float = DEFAULT_IDLE_TIMEOUT) -> Answer:
    connection = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
    try:
        try:
            connection.connect()
        except TimeoutError:
            return load_balancer_error(504, f"no connection to target {host}:{port} within {CONNECT_TIMEOUT:g} s")
        except OSError as exc:
            return load_balancer_error(502, f"target {host}:{port} refused the connection: {exc}")
        assert connection.sock is not None
        connection.sock.settimeout(idle_timeout)
        connection.putrequest(request.method, request.target, skip_host=True, skip_accept_encoding=True)
        for name, value in forwarded_headers(request):
            if name.lower() != "content-length":
                connection.putheader(name, value)
        if request.body or request.method in ("POST", "PUT", "PATCH"):
            connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body or None)
        response = connection.getresponse()
        body = response.read()
    except TimeoutError:
        return load_balancer_error(
            504, f"target {host}:{port} did not answer within the idle timeout ({idle_timeout:g} s)"
        )
    except (OSError, http.client.HTTPException) as exc:
        return load_balancer_error(502, f"target {host}:{port} closed the connection or answered badly: {exc}")
    finally:
        connection.close()
    dropped = HOP_BY_HOP if request.method == "HEAD" else HOP_BY_HOP | {"content-length"}
    headers = [(name, value) for name, value in response.getheaders() if name.lower() not in dropped]
    return Answer(response.status, headers, body, response.reason)


def connect(host: str, port: int) -> socket.socket | None:
    """A TCP connection to a target (for a TCP or TLS listener); None if it cannot be made."""
    try:
        return socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
    except OSError:
        return None
