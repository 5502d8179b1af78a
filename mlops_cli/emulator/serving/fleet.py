"""A fleet: the variant servers of one endpoint config (an endpoint has one, two while an update deploys), in
`<work_dir>/endpoints/<endpoint>/<config>/`. It counts the invocations in flight, so an old fleet is stopped only
once every request it accepted has been answered."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any

from mlops_cli.emulator.jobs.runtime import runtime
from mlops_cli.emulator.serving.capture import CaptureWriter
from mlops_cli.emulator.serving.errors import FleetFailure, RuntimeValidationError, log_group
from mlops_cli.emulator.serving.logs import LogStream
from mlops_cli.emulator.serving.plans import FleetPlan
from mlops_cli.emulator.serving.variant import VariantServer

DRAIN_TIMEOUT = 70.0  # seconds: longer than one invocation may take


def fleet_folder(work_dir: Path, endpoint: str, config: str) -> Path:
    return work_dir / "endpoints" / endpoint / config


class Fleet:
    def __init__(self, endpoint: str, plan: FleetPlan, folder: Path, account_id: str, region: str) -> None:
        self.endpoint = endpoint
        self.plan = plan
        self.folder = folder
        self.account_id = account_id
        self.region = region
        logs = runtime.client("logs", account_id, region)
        self.servers = {
            variant.name: VariantServer(
                endpoint,
                folder / variant.name,
                variant,
                region,
                LogStream(logs, log_group(endpoint), f"{variant.name}/{variant.instance_id}"),
            )
            for variant in plan.variants
        }
        self.capture: CaptureWriter | None = None
        self._inflight = 0
        self._idle = threading.Condition()
        self._lock = threading.Lock()  # a reset may stop the fleet while it starts
        self._stopped = False

    @property
    def config_name(self) -> str:
        return self.plan.config_name

    def start(self) -> None:
        """Bring every variant up; returns once each answers /ping. Raises FleetFailure (with the servers that did
        start stopped again) when one cannot."""
        s3 = runtime.client("s3", self.account_id, self.region)
        try:
            for server in self.servers.values():  # start them all, then wait: they load in parallel
                code, program, environment = server.prepare(s3)
                with self._lock:
                    if self._stopped:
                        raise FleetFailure("the fleet was stopped while it started")
                    server.spawn(code, program, environment)
            for server in self.servers.values():
                server.wait_ready(server.ready_deadline)
        except FleetFailure:
            self.stop()
            raise
        except Exception as exc:  # the emulator's own fault: the endpoint must still end Failed, not hang
            self.stop()
            raise FleetFailure(
                f"InternalFailure: the emulator could not start the endpoint's servers: {exc!r}"
            ) from exc
        with self._lock:
            if self.plan.capture is not None and self.plan.capture.enabled and not self._stopped:
                self.capture = CaptureWriter(self.plan.capture, self.endpoint, s3)

    def pick(self, target_variant: str | None) -> VariantServer:
        """The variant for one invocation: TargetVariant, or a weighted draw over CurrentWeight."""
        if target_variant:
            server = self.servers.get(target_variant)
            if server is None:
                raise RuntimeValidationError(
                    f"Variant {target_variant} not found for endpoint {self.endpoint} (variants: "
                    f"{', '.join(self.servers)})."
                )
            return server
        servers = list(self.servers.values())
        weights = [max(0.0, server.plan.weight) for server in servers]
        if not any(weights):
            raise RuntimeValidationError(f"Endpoint {self.endpoint} has no variant with a weight above zero.")
        return random.choices(servers, weights=weights)[0]

    def enter(self) -> None:
        with self._idle:
            self._inflight += 1

    def leave(self) -> None:
        with self._idle:
            self._inflight -= 1
            if self._inflight == 0:
                self._idle.notify_all()

    def drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """Wait until no invocation is in flight (the fleet no longer receives new ones)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._inflight > 0 and time.monotonic() < deadline:
                self._idle.wait(timeout=max(0.0, deadline - time.monotonic()))

    def stop(self, graceful: bool = True) -> None:
        """Stop every server (and write the pending capture); `graceful=False` for a reset, which wipes the logs
        and buckets next anyway."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        threads = [
            threading.Thread(target=server.stop, kwargs={"ship_logs": graceful}, daemon=True)
            for server in self.servers.values()
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.capture is not None:
            self.capture.close(write=graceful)

    def pids(self) -> list[int]:
        return [server.pid for server in self.servers.values() if server.pid is not None]

    def summary(self, server: VariantServer, timestamp: Any) -> dict[str, Any]:
        """DescribeEndpoint's ProductionVariantSummary for one of this fleet's variants."""
        image = server.plan.container.image if server.plan.container else ""
        return {
            "VariantName": server.name,
            "DeployedImages": [
                {
                    "SpecifiedImage": image,
                    "ResolvedImage": _resolved(image),
                    "ResolutionTime": timestamp,
                }
            ],
            "CurrentWeight": server.plan.weight,
            "DesiredWeight": server.plan.weight,
            "CurrentInstanceCount": server.plan.instance_count,
            "DesiredInstanceCount": server.plan.instance_count,
        }


def _resolved(image: str) -> str:
    """`repo:tag` → `repo@sha256:<digest>`: SageMaker reports the digest it pulled (made up here, but stable)."""
    import hashlib

    if not image:
        return image
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repository}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"
