"""Sessions and clients: endpoint, region, profile, retries, timeouts, user agent, client caching, call accounting."""

from __future__ import annotations

import http.client
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.parsers import ResponseParserError, ResponseParserFactory

from mlops_cli import __version__
from mlops_cli.aws.errors import aws_errors, register_endpoint_check
from mlops_cli.errors import EmulatorRestarted, MlopsError

if TYPE_CHECKING:  # the config layer sits above this one; only its shape is needed here
    from mlops_cli.config.models import AwsConfig

# Operation-name prefixes that only read; everything else counts as a write.
_READ_PREFIXES = ("Get", "List", "Head", "Describe", "Search", "Query", "Select", "Lookup", "BatchGet")

# The emulator accepts any credentials; fixed ones mean real keys are never used to sign requests to it.
_LOCAL_CREDENTIALS = {"aws_access_key_id": "mlopslocal", "aws_secret_access_key": "mlopslocal"}


@dataclass
class CallLog:
    """Every AWS operation made through these clients, counted as (service, operation)."""

    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[(service, operation)] += 1

    @staticmethod
    def is_write(operation: str) -> bool:
        return not operation.startswith(_READ_PREFIXES)

    def writes(self) -> Counter[tuple[str, str]]:
        return Counter({key: n for key, n in self.calls.items() if self.is_write(key[1])})

    def total(self) -> int:
        return sum(self.calls.values())


class _ErrorPageTolerantParser:
    """A protocol's response parser that reads an error answer it cannot parse (a plain-text or HTML 503 from a
    proxy, a load balancer or an overloaded front end) as an error with the HTTP status for its code, as botocore
    already does for S3. botocore's retry handler then retries it like any 5xx, instead of the call failing at
    once with ResponseParserError (the query-protocol services: STS, IAM, ELBv2, CloudWatch, Auto Scaling...)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def parse(self, response: dict[str, Any], shape: Any) -> dict[str, Any]:
        try:
            return dict(self._inner.parse(response, shape))
        except ResponseParserError:
            status = int(response.get("status_code") or 0)
            if status < 400:
                raise
            body = response.get("body") or b""
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            reason = http.client.responses.get(status, "")
            excerpt = " ".join(text.split())[:200]
            return {
                "Error": {"Code": str(status), "Message": f"{reason}: {excerpt}" if excerpt else reason},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(response.get("headers") or {})},
            }

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ParserFactory(ResponseParserFactory):
    def create_parser(self, protocol_name: str) -> Any:
        return _ErrorPageTolerantParser(super().create_parser(protocol_name))


def botocore_session() -> botocore.session.Session:
    """A botocore session whose clients read unparsable error pages as errors (so that they are retried)."""
    session = botocore.session.Session()
    session.register_component("response_parser_factory", _ParserFactory())
    return session


# The run of the embedded emulator this process talks to (`manager.instance_id`), recorded when the newest clients
# were made (None when they talk to AWS or to an endpoint given as it is): a connection failure, a 5xx or a "not
# found" is checked against it, so that "the emulator stopped or restarted" is said plainly instead.
_emulator_instance: str | None = None


def _emulator_lost(exc: BaseException, doing: str) -> MlopsError | None:
    if _emulator_instance is None:
        return None
    from mlops_cli.emulator import manager

    what = manager.lost(_emulator_instance)
    if what is None:
        return None
    return EmulatorRestarted(
        f"While {doing}: the embedded emulator {what}; its state is gone (buckets, jobs, endpoints...).",
        hint="Run `mlops pipeline run` again to rebuild everything on it"
        + (" (it starts the emulator again)." if what == "stopped" else "."),
    )


def resolve_endpoint(aws: AwsConfig) -> str | None:
    """The URL boto3 talks to: None for AWS itself, the emulator's URL (started on demand) for 'local'."""
    global _emulator_instance
    _emulator_instance = None  # what older clients recorded does not speak for these
    if aws.is_local:
        from mlops_cli.emulator import manager

        info = manager.ensure_running()
        _emulator_instance = manager.instance_id(info)
        register_endpoint_check(_emulator_lost)
        return info.endpoint_url
    return aws.endpoint_url


def _given_endpoint(endpoint_url: str | None) -> str | None:
    """An endpoint given as it is (tests, an emulator's own clients): no emulator run to check errors against."""
    global _emulator_instance
    _emulator_instance = None
    return endpoint_url


class AwsClients:
    """Cached boto3 clients for one config. Thread-safe to create clients from (transfers use threads)."""

    def __init__(self, aws: AwsConfig, endpoint_url: str | None = None, *, resolve: bool = True) -> None:
        self.aws = aws
        self.endpoint_url = resolve_endpoint(aws) if resolve else _given_endpoint(endpoint_url)
        self.call_log = CallLog()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        credentials = _LOCAL_CREDENTIALS if self.endpoint_url and aws.is_local else {}
        with aws_errors("opening an AWS session"):
            self.session = boto3.session.Session(
                botocore_session=botocore_session(),
                profile_name=None if aws.is_local else aws.profile,
                region_name=aws.region,
                **credentials,
            )
        self._boto_config = BotoConfig(
            region_name=aws.region,
            # botocore's "max_attempts" counts the retries only; the config's counts the first attempt too
            retries={"mode": aws.retries.mode, "total_max_attempts": aws.retries.max_attempts},
            connect_timeout=aws.timeouts.connect,
            read_timeout=aws.timeouts.read,
            user_agent_extra=f"mlops/{__version__}",
            # custom endpoints (the emulator) have no per-bucket DNS names
            s3={"addressing_style": "path"} if self.endpoint_url else {},
            max_pool_connections=32,
            # the emulator is on loopback: never send its traffic through an HTTP(S)_PROXY
            proxies={} if aws.is_local else None,
        )

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                client = self.session.client(service, endpoint_url=self.endpoint_url, config=self._boto_config)
                client.meta.events.register("before-call.*.*", self._count)
                self._clients[service] = client
            return self._clients[service]

    def _count(self, model: Any, **_: Any) -> None:
        self.call_log.record(model.service_model.service_name, model.name)

    def proxies_for(self, url: str) -> dict[str, str]:
        """The HTTP(S) proxies a plain request to `url` should use: none for the emulator, else the environment's."""
        if self.aws.is_local:
            return {}
        from botocore.utils import get_environ_proxies

        return dict(get_environ_proxies(url))

    @property
    def region(self) -> str:
        return self.aws.region

    @property
    def account_id(self) -> str:
        if self._account is None:
            with aws_errors("looking up the AWS account (sts:GetCallerIdentity)"):
                self._account = str(self.client("sts").get_caller_identity()["Account"])
        return self._account

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.aws.region)
