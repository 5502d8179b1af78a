"""The Location of a redirect action (RedirectActionConfig): each component of `protocol://host:port/path?query`
that the config leaves out keeps its original value, and `#{protocol}`, `#{host}`, `#{port}`, `#{path}` (without its
leading "/") and `#{query}` stand for the original components. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

STATUS = {"HTTP_301": 301, "HTTP_302": 302}


@dataclass(frozen=True)
class OriginalUrl:
    protocol: str  # HTTP or HTTPS, as the listener's protocol
    host: str  # the Host header, without its port
    port: str
    path: str  # with its leading "/"
    query: str  # without the "?"


def _expand(template: str, original: OriginalUrl) -> str:
    values = {
        "#{protocol}": original.protocol,
        "#{host}": original.host,
        "#{port}": original.port,
        "#{path}": original.path[1:] if original.path.startswith("/") else original.path,
        "#{query}": original.query,
    }
    for keyword, value in values.items():
        template = template.replace(keyword, value)
    return template


def location(config: dict[str, Any], original: OriginalUrl) -> str:
    def component(name: str, default: str) -> str:
        value = config.get(name)
        return _expand(default if value is None else str(value), original)

    protocol = component("Protocol", "#{protocol}").lower()
    host = component("Host", "#{host}")
    port = component("Port", "#{port}")
    path = component("Path", "/#{path}")
    query = component("Query", "#{query}")  # "" drops the query
    if not path.startswith("/"):
        path = "/" + path
    return f"{protocol}://{host}:{port}{path}" + (f"?{query}" if query else "")


def status(config: dict[str, Any]) -> int:
    return STATUS.get(str(config.get("StatusCode")), 301)
