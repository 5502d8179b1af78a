"""Sessions and clients: endpoint, region, profile, retries, timeouts, user agent, client caching, call accounting."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config as BotoConfig

from mlops_cli import __version__
from mlops_cli.aws.errors import aws_errors

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


def resolve_endpoint(aws: AwsConfig) -> str | None:
    """The URL boto3 talks to: None for AWS itself, the emulator's URL (started on demand) for 'local'."""
    if aws.is_local:
        from mlops_cli.emulator.manager import ensure_running

        return ensure_running().endpoint_url
    return aws.endpoint_url


class AwsClients:
    """Cached boto3 clients for one config. Thread-safe to create clients from (transfers use threads)."""

    def __init__(self, aws: AwsConfig, endpoint_url: str | None = None, *, resolve: bool = True) -> None:
        self.aws = aws
        self.endpoint_url = resolve_endpoint(aws) if resolve else endpoint_url
        self.call_log = CallLog()
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        credentials = _LOCAL_CREDENTIALS if self.endpoint_url and aws.is_local else {}
        with aws_errors("opening an AWS session"):
            self.session = boto3.session.Session(
                profile_name=None if aws.is_local else aws.profile, region_name=aws.region, **credentials
            )
        self._boto_config = BotoConfig(
            region_name=aws.region,
            retries={"mode": aws.retries.mode, "max_attempts": aws.retries.max_attempts},
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
