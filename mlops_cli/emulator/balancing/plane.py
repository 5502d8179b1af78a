"""The emulator's load balancers at work, across accounts and regions: a local listener for every listener in
moto's ELBv2 backends, and a GroupMonitor (health checks, round robin) for every target group a listener forwards
to. `reconcile()` brings them in line with moto's state; the API patches call it after every ELBv2 change, and a
supervisor thread every few seconds (for what changes elsewhere: EC2 instances stopping, draining ending).

A listener admits only the clients its load balancer's security groups allow in on its port (the client is
127.0.0.1, so a load balancer whose groups do not admit loopback refuses every connection, as AWS would drop them);
a Network Load Balancer created without a security group admits everyone, as on AWS.

Each listener's local URL is recorded as the tag `mlops:emulator-url` on the listener. HTTP and HTTPS listeners are
HTTP servers (HTTPS without TLS: there is no certificate locally); TCP and TLS listeners forward raw TCP; UDP and
TCP_UDP listeners are not emulated (no port, and a line in the emulator's log)."""

from __future__ import annotations

import socket
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlops_cli.emulator.balancing import dispatch, health, proxy
from mlops_cli.emulator.balancing.listeners import HttpListener, TcpListener
from mlops_cli.emulator.balancing.messages import Request
from mlops_cli.emulator.balancing.monitor import GroupMonitor
from mlops_cli.emulator.balancing.routing import WeightedChoice
from mlops_cli.emulator.balancing.targets import CheckSettings, TargetKey, Unreachable, address, registered
from mlops_cli.emulator.jobs.runtime import announce

URL_TAG = "mlops:emulator-url"
SUPERVISOR_TICK = 2.0  # seconds
_STOP_WAIT = 5.0  # seconds for the health checks in flight to end
_HTTP = ("HTTP", "HTTPS")
_TCP = ("TCP", "TLS")

Listener = HttpListener | TcpListener


@dataclass(frozen=True)
class ListenerRef:
    account_id: str
    region: str
    load_balancer_arn: str
    load_balancer_name: str
    load_balancer_type: str
    arn: str
    protocol: str
    port: int

    @property
    def kind(self) -> str | None:
        return "http" if self.protocol in _HTTP else "tcp" if self.protocol in _TCP else None


@dataclass
class _Running:
    ref: ListenerRef
    listener: Listener
    backend: Any


def _backends() -> Iterator[Any]:
    from moto.elbv2.models import elbv2_backends

    for _account, regions in list(elbv2_backends.items()):
        yield from list(regions.values())


def _forwarded_groups(backend: Any, listener: Any) -> list[str]:
    arns: list[str] = []
    for rule in list(listener.rules.values()):
        for action in list(rule.actions):
            if action.data.get("Type") == "forward":
                arns += [str(arn) for arn in backend._get_target_group_arns_from(action_data=action.data)]
    return arns


class Plane:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._listeners: dict[str, _Running] = {}
        self._groups: dict[str, GroupMonitor] = {}
        self._weights: dict[tuple[str, tuple[str, ...]], WeightedChoice[str]] = {}
        self._refused: set[str] = set()
        self._supervisor: threading.Thread | None = None
        self._stopping = threading.Event()

    # ----------------------------------------------------------------------------------------- reconcile

    def reconcile(self) -> None:
        # Under the lock from reading moto's state to acting on it: two reconciles (a request's and the
        # supervisor's) never apply an older picture after a newer one (which would close a new listener).
        with self._lock:
            for _attempt in range(5):
                try:
                    self._reconcile()
                    return
                except RuntimeError:  # a moto dict changed size while we read it: read again
                    continue

    def _reconcile(self) -> None:
        listeners: dict[str, tuple[ListenerRef, Any]] = {}
        groups: dict[str, tuple[Any, Any, bool]] = {}
        for backend in _backends():
            for balancer in list(backend.load_balancers.values()):
                for listener in list(balancer.listeners.values()):
                    ref = ListenerRef(
                        account_id=backend.account_id,
                        region=backend.region_name,
                        load_balancer_arn=balancer.arn,
                        load_balancer_name=balancer.name,
                        load_balancer_type=balancer.type,
                        arn=listener.arn,
                        protocol=str(listener.protocol or "").upper(),
                        port=int(listener.port or 0),
                    )
                    listeners[listener.arn] = (ref, backend)
                    for arn in _forwarded_groups(backend, listener):
                        group = backend.target_groups.get(arn)
                        if group is not None:
                            network = groups.get(arn, (None, None, False))[2] or balancer.type == "network"
                            groups[arn] = (group, backend, network)
        with self._lock:
            if self._stopping.is_set():
                return
            for arn in [arn for arn in self._listeners if arn not in listeners]:
                self._close(self._listeners.pop(arn), untag=True)
            for ref, backend in listeners.values():
                self._follow(ref, backend)
            for arn in [arn for arn in self._groups if arn not in groups]:
                self._groups.pop(arn).stop()
            for arn, (group, backend, network) in groups.items():
                monitor = self._groups.get(arn)
                if monitor is None or monitor.group is not group:
                    if monitor is not None:
                        monitor.stop()
                    monitor = self._groups[arn] = GroupMonitor(group, backend.ec2_backend, self.alb_port)
                monitor.network = network
                monitor.sync(group)
            self._start_supervisor()

    def _follow(self, ref: ListenerRef, backend: Any) -> None:
        running = self._listeners.get(ref.arn)
        if running is not None and running.ref == ref:
            return
        if running is not None and running.listener.kind == ref.kind:
            running.ref = ref  # ModifyListener: same kind of socket, new port or protocol in the API
            if isinstance(running.listener, HttpListener):
                running.listener.protocol, running.listener.listener_port = ref.protocol, ref.port
            return
        keep_port = 0
        if running is not None:
            keep_port = running.listener.port
            self._close(self._listeners.pop(ref.arn), untag=True)
        if ref.kind is None:
            if ref.arn not in self._refused:
                self._refused.add(ref.arn)
                announce(
                    f"load balancer {ref.load_balancer_name}: {ref.protocol} listener on port {ref.port} is not "
                    f"emulated (only HTTP, HTTPS, TCP and TLS listeners are)"
                )
            return
        listener = self._open(ref, keep_port)
        self._listeners[ref.arn] = _Running(ref, listener, backend)
        backend.tagging_service.tag_resource(ref.arn, [{"Key": URL_TAG, "Value": listener.url}])
        note = {"HTTPS": " (as plain HTTP: no certificate locally)", "TLS": " (TLS not terminated locally)"}
        announce(
            f"load balancer {ref.load_balancer_name}: {ref.protocol} listener on port {ref.port} serves on "
            f"{listener.url}{note.get(ref.protocol, '')}"
        )

    def _open(self, ref: ListenerRef, port: int) -> Listener:
        label = f"{ref.load_balancer_name}:{ref.port}"
        arn = ref.arn

        def admit(client_ip: str) -> bool:
            return self.admits(arn, client_ip)

        for candidate in dict.fromkeys([port, 0]):
            try:
                if ref.kind == "http":
                    return HttpListener(
                        label, ref.protocol, ref.port, lambda request: self._handle(arn, request), candidate, admit
                    )
                return TcpListener(label, lambda: self._connect(arn), candidate, admit)
            except OSError:
                if candidate == 0:
                    raise
        raise AssertionError("unreachable")

    def _close(self, running: _Running, untag: bool) -> None:
        running.listener.close()
        if untag:
            running.backend.tagging_service.untag_resource_using_names(running.ref.arn, [URL_TAG])
        announce(
            f"load balancer {running.ref.load_balancer_name}: listener on port {running.ref.port} closed "
            f"({running.listener.url})"
        )

    def _start_supervisor(self) -> None:
        if self._supervisor is None or not self._supervisor.is_alive():
            self._supervisor = threading.Thread(target=self._supervise, name="balancing-supervisor", daemon=True)
            self._supervisor.start()

    def _supervise(self) -> None:
        from mlops_cli.emulator.balancing.functions import functions

        while not self._stopping.wait(SUPERVISOR_TICK):
            try:
                self.reconcile()
                functions.reap_idle()
            except Exception:
                announce(f"load balancing: reconcile failed:\n{traceback.format_exc()}")

    def stop_all(self) -> None:
        """Close every listener and stop every health check (the emulator resets or shuts down)."""
        from mlops_cli.emulator.balancing.functions import functions

        self._stopping.set()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(10)
        with self._lock:
            running, self._listeners = list(self._listeners.values()), {}
            groups, self._groups = list(self._groups.values()), {}
            self._weights.clear()
            self._refused.clear()
            self._supervisor = None
            for item in running:
                self._close(item, untag=False)
            monitors = [target for group in groups for target in group.stop()]
            self._stopping.clear()
        deadline = time.monotonic() + _STOP_WAIT
        for target in monitors:  # a check in flight may be invoking a function: let it end first
            target.join(max(0.0, deadline - time.monotonic()))
        functions.stop_all()

    # ---------------------------------------------------------------------------------------- requests

    def _ref(self, arn: str) -> ListenerRef | None:
        with self._lock:
            running = self._listeners.get(arn)
            return running.ref if running is not None else None

    def _handle(self, arn: str, request: Request) -> Any:
        from mlops_cli.emulator.balancing.messages import load_balancer_error

        ref = self._ref(arn)
        if ref is None:
            return load_balancer_error(503, "the listener no longer exists")
        return dispatch.handle(self, ref, request)

    def admits(self, arn: str, client_ip: str) -> bool:
        """Whether the load balancer's security groups let `client_ip` in on the listener's port: an ingress rule
        for TCP (or all traffic) whose port range holds it, from an IPv4 block holding the address. Rules that
        name a security group or a prefix list match no loopback client."""
        with self._lock:
            running = self._listeners.get(arn)
        if running is None:
            return False
        balancer = running.backend.load_balancers.get(running.ref.load_balancer_arn)
        if balancer is None:
            return False
        group_ids = list(balancer.security_groups or [])
        if not group_ids:
            # an NLB without a security group passes every source; an ALB always has one (the VPC's default
            # group, which admits only its own members, when none was given)
            return running.ref.load_balancer_type == "network"
        admitted = any(
            _allows(rule, running.ref.port, client_ip)
            for group_id in group_ids
            if (group := running.backend.ec2_backend.get_security_group_from_id(group_id)) is not None
            for rule in list(group.ingress_rules)
        )
        if not admitted:
            key = f"{arn} {client_ip}"
            if key not in self._refused:
                self._refused.add(key)
                announce(
                    f"load balancer {running.ref.load_balancer_name}: a connection from {client_ip} to port "
                    f"{running.ref.port} was dropped: no ingress rule of {', '.join(group_ids)} admits it"
                )
        return admitted

    def _connect(self, arn: str) -> socket.socket | None:
        ref = self._ref(arn)
        listener = self.moto_listener(ref) if ref is not None else None
        if ref is None or listener is None:
            return None
        for action in list(listener.default_actions):
            if action.data.get("Type") != "forward":
                continue
            groups = (action.data.get("ForwardConfig") or {}).get("TargetGroups") or []
            arn_ = action.data.get("TargetGroupArn") or self.weighted(
                ref.arn, [(str(item["TargetGroupArn"]), float(item.get("Weight", 1) or 0)) for item in groups]
            )
            monitor = self.group_monitor(arn_) if arn_ else None
            key = monitor.pick() if monitor is not None else None
            if monitor is None or key is None:
                return None
            try:
                host, port = address(monitor.group, key, key.port, monitor.ec2_backend, self.alb_port)
            except Unreachable as exc:
                announce(f"load balancer {ref.load_balancer_name}: target {key} cannot be reached: {exc}")
                return None
            return proxy.connect(host, port)
        return None

    def moto_listener(self, ref: ListenerRef) -> Any:
        with self._lock:
            running = self._listeners.get(ref.arn)
        if running is None:
            return None
        balancer = running.backend.load_balancers.get(ref.load_balancer_arn)
        return None if balancer is None else balancer.listeners.get(ref.arn)

    def group_monitor(self, arn: str) -> GroupMonitor | None:
        with self._lock:
            return self._groups.get(arn)

    def weighted(self, listener_arn: str, weighted: list[tuple[str, float]]) -> str | None:
        key = (listener_arn, tuple(arn for arn, _weight in weighted))
        with self._lock:
            choice = self._weights.setdefault(key, WeightedChoice())
        return choice.pick(weighted)

    def alb_port(self, load_balancer_arn: str, port: int) -> int | None:
        """The local port of an Application Load Balancer's listener on `port` (for `alb` targets)."""
        with self._lock:
            for running in self._listeners.values():
                if running.ref.load_balancer_arn == load_balancer_arn and running.ref.port == port:
                    return running.listener.port
        return None

    def idle_timeout(self, ref: ListenerRef) -> float:
        with self._lock:
            running = self._listeners.get(ref.arn)
        balancer = running.backend.load_balancers.get(ref.load_balancer_arn) if running is not None else None
        try:
            return float((balancer.attrs if balancer is not None else {}).get("idle_timeout.timeout_seconds", 60))
        except (TypeError, ValueError):
            return proxy.DEFAULT_IDLE_TIMEOUT

    # ----------------------------------------------------------------------------------- DescribeTargetHealth

    def describe_health(self, group: Any, targets: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """TargetHealthDescriptions for moto's target group `group`: the requested targets, or every registered
        and draining one."""
        monitor = self.group_monitor(str(group.arn))
        if monitor is not None and monitor.group is not group:
            monitor = None
        current = registered(group)
        if targets:
            keys = [_requested(target, group, current) for target in targets]
        else:
            keys = current + [key for key in (monitor.draining() if monitor else []) if key not in current]
        settings = CheckSettings.of(group)
        descriptions = []
        for key in keys:
            if key in current:
                verdict = health.NOT_IN_USE if monitor is None else monitor.verdict(key)
                if verdict in (health.NOT_REGISTERED, health.DEREGISTERING):
                    verdict = health.REGISTERING  # registered this instant; its monitor starts now
            else:
                verdict = monitor.verdict(key) if monitor is not None else health.NOT_REGISTERED
            description: dict[str, Any] = {"Target": key.as_target(), "TargetHealth": verdict.as_target_health()}
            check_port = settings.port_for(key)
            if group.target_type != "lambda" and check_port is not None:
                description["HealthCheckPort"] = str(check_port)
            descriptions.append(description)
        return descriptions


def _allows(rule: Any, port: int, client_ip: str) -> bool:
    import ipaddress

    protocol = str(rule.ip_protocol or "")
    if protocol not in ("tcp", "-1"):
        return False
    if protocol == "tcp" and not (int(rule.from_port) <= port <= int(rule.to_port)):
        return False
    cidr = (rule.ip_range or {}).get("CidrIp")
    if not cidr:
        return False
    try:
        return ipaddress.ip_address(client_ip) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _requested(target: dict[str, Any], group: Any, current: list[TargetKey]) -> TargetKey:
    """The registered target a DescribeTargetHealth entry names; without a Port, the only registration of the Id."""
    if "Port" not in target or target.get("Port") in (None, ""):
        same_id = [key for key in current if key.id == target["Id"]]
        if len(same_id) == 1:
            return same_id[0]
    return TargetKey.of(target, group.port)


plane = Plane()
