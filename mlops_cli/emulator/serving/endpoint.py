"""One endpoint's live state next to moto's FakeEndpoint (which keeps serving ListEndpoints and tags): its fleets,
the routing of invocations between them, and DescribeEndpoint's answer.

Routing is a tuple of (fleet, share) replaced as a whole under the endpoint's lock, and an invocation counts itself
into its fleet under that same lock: switching traffic is atomic, and a fleet taken out of the routing has no
request it has not answered once `drain()` returns.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from typing import Any

from moto.core.utils import utcnow

from mlops_cli.emulator.serving.errors import RuntimeValidationError
from mlops_cli.emulator.serving.fleet import Fleet
from mlops_cli.emulator.serving.variant import VariantServer

SERVING = ("InService", "Updating", "RollingBack")  # statuses in which an endpoint answers invocations
IN_PROGRESS = ("Creating", "Updating", "RollingBack", "SystemUpdating", "Deleting")
_UNCHANGED: Any = object()


@dataclass(frozen=True)
class Route:
    fleet: Fleet
    share: float


class Endpoint:
    def __init__(self, fake: Any, account_id: str, region: str) -> None:
        self.fake = fake  # moto's FakeEndpoint: status, config name, times, tags
        self.account_id = account_id
        self.region = region
        self.lock = threading.RLock()
        self.routes: tuple[Route, ...] = ()
        self.active: Fleet | None = None  # the fleet DescribeEndpoint reports
        self.pending: Fleet | None = None  # the fleet being deployed
        self.retiring: Fleet | None = None  # the old fleet, out of the routing, until it is stopped
        self.pending_status: str = "Creating"  # its VariantStatus: Creating, ActivatingTraffic, Baking
        self.pending_since: Any = None
        self.activated_at: Any = None
        self.last_deployment_config: dict[str, Any] | None = None
        self.abandoned = False  # deleted, or wiped by a reset: deployment threads end quietly

    @property
    def name(self) -> str:
        return str(self.fake.endpoint_name)

    @property
    def arn(self) -> str:
        return str(self.fake.arn)

    @property
    def status(self) -> str:
        return str(self.fake.endpoint_status)

    def set_status(self, status: str, failure_reason: str | None = _UNCHANGED) -> None:
        """Change moto's object in place (only keys it has: ListEndpoints may be reading it)."""
        with self.lock:
            self.fake.endpoint_status = status
            if failure_reason is not _UNCHANGED:
                self.fake.failure_reason = failure_reason
            self.fake.last_modified_time = utcnow()

    def activate(self, fleet: Fleet) -> None:
        """`fleet` is the endpoint's now: it takes all traffic and DescribeEndpoint reports its config."""
        with self.lock:
            self.active = fleet
            self.pending = None
            self.routes = (Route(fleet, 1.0),)
            self.activated_at = utcnow()
            self.fake.endpoint_config_name = fleet.config_name
            self.fake.production_variants = self._variant_summaries(fleet)

    def _variant_summaries(self, fleet: Fleet) -> list[dict[str, Any]]:
        return [fleet.summary(server, self.activated_at) for server in fleet.servers.values()]

    def fleets(self) -> list[Fleet]:
        with self.lock:
            return [fleet for fleet in (self.active, self.pending, self.retiring) if fleet is not None]

    def route(self, *routes: Route) -> None:
        with self.lock:
            self.routes = tuple(route for route in routes if route.share > 0)

    # ------------------------------------------------------------------------------------------------ serve

    def acquire(self, target_variant: str | None) -> tuple[Fleet, VariantServer]:
        """The fleet and variant for one invocation, counted into the fleet: call `fleet.leave()` after."""
        with self.lock:
            if self.status not in SERVING or not self.routes:
                raise not_found(self.name, self.account_id)
            fleet = _draw(self.routes)
            server = fleet.pick(target_variant)
            fleet.enter()
            return fleet, server

    # --------------------------------------------------------------------------------------------- describe

    def describe(self) -> dict[str, Any]:
        with self.lock:
            fake = self.fake
            result: dict[str, Any] = {
                "EndpointName": self.name,
                "EndpointArn": self.arn,
                "EndpointConfigName": fake.endpoint_config_name,
                "EndpointStatus": fake.endpoint_status,
                "CreationTime": fake.creation_time,
                "LastModifiedTime": fake.last_modified_time,
            }
            if fake.failure_reason:
                result["FailureReason"] = fake.failure_reason
            if self.active is not None:
                result["ProductionVariants"] = self._variant_summaries(self.active)
                if self.active.plan.capture is not None:
                    result["DataCaptureConfig"] = self.active.plan.capture.summary()
            if self.last_deployment_config:
                result["LastDeploymentConfig"] = self.last_deployment_config
            if self.pending is not None and self.active is not None:
                result["PendingDeploymentSummary"] = self._pending_summary(self.pending)
            return result

    def _pending_summary(self, fleet: Fleet) -> dict[str, Any]:
        variants = []
        for server in fleet.servers.values():
            summary = fleet.summary(server, self.pending_since)
            summary["InstanceType"] = server.plan.instance_type
            summary["VariantStatus"] = [{"Status": self.pending_status, "StartTime": self.pending_since}]
            variants.append(summary)
        return {
            "EndpointConfigName": fleet.config_name,
            "ProductionVariants": variants,
            "StartTime": self.pending_since,
        }


def not_found(endpoint: str, account_id: str) -> RuntimeValidationError:
    # AWS answers the same for an endpoint that does not exist and one that is not in service.
    return RuntimeValidationError(f"Endpoint {endpoint} of account {account_id} not found.")


def _draw(routes: tuple[Route, ...]) -> Fleet:
    if len(routes) == 1:
        return routes[0].fleet
    return random.choices([route.fleet for route in routes], weights=[route.share for route in routes])[0]
