"""Which actions a listener takes for a request: its rules by priority (lowest first), the first whose conditions
all match, else the default actions. Conditions: path-pattern, host-header, http-request-method, http-header,
query-string and source-ip, with `*` and `?` wildcards where AWS allows them. Pure."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from mlops_cli.emulator.balancing.messages import Request

_CONFIG_KEYS = {
    "path-pattern": "PathPatternConfig",
    "host-header": "HostHeaderConfig",
    "http-request-method": "HttpRequestMethodConfig",
    "source-ip": "SourceIpConfig",
}


def _pattern(pattern: str, case_sensitive: bool) -> re.Pattern[str]:
    # fnmatch's translate also knows [...] classes, which AWS does not: escape them first.
    escaped = pattern.replace("[", "[[]")
    return re.compile(fnmatch.translate(escaped), 0 if case_sensitive else re.IGNORECASE)


def _wildcard(pattern: str, value: str, case_sensitive: bool = False) -> bool:
    return _pattern(pattern, case_sensitive).match(value) is not None


def _values(condition: dict[str, Any]) -> list[Any]:
    key = _CONFIG_KEYS.get(condition.get("Field", ""))
    if key and condition.get(key):
        return list(condition[key].get("Values") or [])
    return list(condition.get("Values") or [])


def condition_matches(condition: dict[str, Any], request: Request) -> bool:
    field = condition.get("Field")
    values = _values(condition)
    if field == "path-pattern":
        return any(_wildcard(value, request.path, case_sensitive=True) for value in values)
    if field == "host-header":
        host, _port = request.host_and_port()
        return any(_wildcard(value, host) for value in values)
    if field == "http-request-method":
        return request.method.upper() in {str(value).upper() for value in values}
    if field == "http-header":
        config = condition.get("HttpHeaderConfig") or {}
        header = request.header(str(config.get("HttpHeaderName", "")))
        return header is not None and any(_wildcard(value, header) for value in config.get("Values") or [])
    if field == "query-string":
        pairs = parse_qsl(request.query, keep_blank_values=True)
        wanted = (condition.get("QueryStringConfig") or {}).get("Values") or []
        return any(
            any(
                (item.get("Key") is None or _wildcard(item["Key"], key)) and _wildcard(item.get("Value", "*"), value)
                for key, value in pairs
            )
            for item in wanted
        )
    if field == "source-ip":
        try:
            client = ipaddress.ip_address(request.client_ip)
            return any(client in ipaddress.ip_network(value, strict=False) for value in values)
        except ValueError:
            return False
    return False  # a condition this emulator does not know never matches


def rule_matches(conditions: Iterable[dict[str, Any]], request: Request) -> bool:
    return all(condition_matches(condition, request) for condition in conditions)


def _priority(rule: Any) -> int:
    try:
        return int(rule.priority)
    except (TypeError, ValueError):
        return 1_000_000  # "default" last


def actions_for(listener: Any, request: Request) -> list[Any]:
    """The actions (moto's FakeAction objects) of the first matching rule of a moto listener, in Order."""
    rules = sorted((rule for rule in list(listener.rules.values()) if not rule.is_default), key=_priority)
    chosen = next((rule.actions for rule in rules if rule_matches(rule.conditions or [], request)), None)
    if chosen is None:
        chosen = listener.default_actions
    return sorted(chosen, key=lambda action: int(action.data.get("Order") or 0))
