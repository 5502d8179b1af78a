"""Who may call a method, and how often: SigV4 presence for AWS_IAM methods (the signature is not verified and no
IAM policy is evaluated), API keys through usage plans, and throttling and quotas as token buckets and counters.

API Gateway's answers: no Authorization header on an AWS_IAM method is MISSING_AUTHENTICATION_TOKEN (403,
"Missing Authentication Token"); a malformed one, or one scoped to another service, is refused with 403 and the
message API Gateway gives; a missing, unknown or disabled API key, or one in no usage plan of the stage, is
INVALID_API_KEY (403, "Forbidden"); throttling is THROTTLED (429, "Too Many Requests") and an exhausted quota is
QUOTA_EXCEEDED (429, "Limit Exceeded").
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_cli.emulator.gateway.errors import GatewayError, NotSupported

_SIGV4 = re.compile(r"^AWS4-HMAC-SHA256\s+(?P<parameters>.*)$", re.DOTALL)
_CREDENTIAL = re.compile(r"^[^/\s]+/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<service>[a-z0-9-]+)/aws4_request$")
_AMZ_DATE = re.compile(r"^\d{8}T\d{6}Z$")


# ------------------------------------------------------------------------------------------------- AWS_IAM


def check_signature(headers: Mapping[str, str]) -> None:
    """An `Authorization: AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/execute-api/aws4_request,
    SignedHeaders=..., Signature=...` header and an X-Amz-Date (or Date) header, by presence and form."""
    lowered = {name.lower(): value for name, value in headers.items()}
    authorization = lowered.get("authorization", "").strip()
    if not authorization:
        raise GatewayError("MISSING_AUTHENTICATION_TOKEN", "Missing Authentication Token")
    signed = _SIGV4.match(authorization)
    parameters: dict[str, str] = {}
    if signed:
        for part in signed["parameters"].split(","):
            name, separator, value = part.strip().partition("=")
            if separator:
                parameters[name.strip()] = value.strip()
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not parameters.get(name)
    ]
    date = lowered.get("x-amz-date", "").strip()
    if not date and not lowered.get("date", "").strip():
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        raise GatewayError("INVALID_SIGNATURE", " ".join([*problems, f"Authorization={authorization}"]))
    credential = _CREDENTIAL.match(parameters["Credential"])
    if not credential:
        raise GatewayError(
            "INVALID_SIGNATURE",
            f"Credential should be scoped to a valid region, not ''. Credential={parameters['Credential']}",
        )
    if credential["service"] != "execute-api":
        raise GatewayError("INVALID_SIGNATURE", "Credential should be scoped to correct service: 'execute-api'.")
    if date and not _AMZ_DATE.match(date):
        raise GatewayError("INVALID_SIGNATURE", f"Date must be in ISO-8601 'basic format'. Got '{date}'.")


# ------------------------------------------------------------------------------------------------ API keys


@dataclass(frozen=True)
class KeyGrant:
    """A valid API key and the usage plan through which it may call the stage."""

    key_id: str
    plan_id: str
    throttle: dict[str, Any]
    quota: dict[str, Any]


def check_api_key(backend: Any, api_id: str, stage: str, api_key_source: str, headers: Mapping[str, str]) -> KeyGrant:
    """The caller's `x-api-key`: an existing, enabled key in a usage plan whose apiStages include this stage."""
    if api_key_source != "HEADER":
        raise NotSupported(f"apiKeySource {api_key_source}")
    value = next((v for name, v in headers.items() if name.lower() == "x-api-key"), "").strip()
    if not value:
        raise GatewayError("INVALID_API_KEY", "Forbidden")
    key = next((key for key in list(backend.keys.values()) if key.value == value), None)
    if key is None or not key.enabled:
        raise GatewayError("INVALID_API_KEY", "Forbidden")
    for plan in list(backend.usage_plans.values()):
        stages = plan.api_stages or []
        if not any(entry.get("apiId") == api_id and entry.get("stage") == stage for entry in stages):
            continue
        if key.id in backend.usage_plan_keys.get(plan.id, {}):
            if any(entry.get("throttle") for entry in stages):
                raise NotSupported(f"per-method throttling in the apiStages of usage plan {plan.id}")
            return KeyGrant(key.id, plan.id, dict(plan.throttle or {}), dict(plan.quota or {}))
    raise GatewayError("INVALID_API_KEY", "Forbidden")


# ------------------------------------------------------------------------------------ throttling and quotas


class TokenBucket:
    """`burst` tokens, refilled at `rate` a second; a request takes one or is throttled."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = max(rate, 0.0)
        self.capacity = max(burst, 0.0)
        self.tokens = self.capacity
        self.updated = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Limiter:
    """Every bucket and quota counter of the gateway, behind one lock (the server is threaded)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date(),
    ) -> None:
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()
        self._buckets: dict[tuple[Any, ...], TokenBucket] = {}
        self._used: dict[tuple[Any, ...], int] = {}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._used.clear()

    def throttle(self, key: tuple[Any, ...], rate: float, burst: float) -> None:
        """Take a token from the bucket `key` (made with `rate` and `burst`; remade when they change)."""
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None or (bucket.rate, bucket.capacity) != (max(rate, 0.0), max(burst, 0.0)):
                bucket = self._buckets[key] = TokenBucket(rate, burst, self._clock())
            if not bucket.take(self._clock()):
                raise GatewayError("THROTTLED", "Too Many Requests")

    def count(self, key: tuple[Any, ...], limit: int, period: str) -> None:
        """Count one request against the quota `key` of `limit` requests per DAY, WEEK or MONTH (UTC)."""
        window = _window(self._today(), period)
        with self._lock:
            used = self._used.get((*key, window), 0)
            if used >= limit:
                raise GatewayError("QUOTA_EXCEEDED", "Limit Exceeded")
            self._used[(*key, window)] = used + 1


def _window(today: dt.date, period: str) -> tuple[int, ...]:
    if period == "DAY":
        return (today.year, today.month, today.day)
    if period == "WEEK":
        year, week, _weekday = today.isocalendar()
        return (year, week)
    if period == "MONTH":
        return (today.year, today.month)
    raise NotSupported(f"the quota period {period!r}")


def stage_throttle(
    method_settings: Mapping[str, Any], resource_path: str, http_method: str
) -> tuple[str, float, float] | None:
    """(settings key, rate, burst) from the stage's method settings for this method (`~1predict/POST`), else
    for every method (`*/*`); None when neither throttles."""
    escaped = resource_path.lstrip("/").replace("/", "~1")
    for key in (f"~1{escaped}/{http_method}", f"{escaped}/{http_method}", "*/*"):
        settings = method_settings.get(key) or {}
        if "throttlingRateLimit" in settings or "throttlingBurstLimit" in settings:
            rate = float(settings.get("throttlingRateLimit", 10000.0))
            return key, rate, float(settings.get("throttlingBurstLimit", 5000))
    return None
