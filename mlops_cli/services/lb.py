"""An Application or Network Load Balancer in front of the model (Elastic Load Balancing v2): `apply` converges
the security group, load balancer, its attributes, the target group and its health check, the targets (see
`lb_proxy`) and the listeners; `status` reports them with every target's health; `delete` removes them.

Secure by default: internal unless the config says internet-facing (which needs a certificate), HTTPS with a modern
TLS policy and HTTP redirected when a certificate is configured, a security group open only to the configured CIDRs,
deletion protection, access logs to the project's log bucket, invalid headers dropped and the strictest desync
mitigation on an ALB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws.errors import Outage, aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value, from_key_value
from mlops_cli.config.models import Config, LoadBalancer
from mlops_cli.errors import OperationFailed, PreconditionFailed, UsageError, WaitTimeout
from mlops_cli.services import lb_proxy
from mlops_cli.services.convergence import Control, ControlResult, converge, same_document
from mlops_cli.services.deploy import describe_endpoint, endpoint_name

STAGE = "lb"
ACCESS_LOG_PREFIX = "lb-access"  # in the log bucket; its policy admits the writers (storage/documents.py)
EMULATOR_URL_TAG = "mlops:emulator-url"  # the emulator's loopback address of a listener
_LB_MISSING = ("LoadBalancerNotFound",)
_TG_MISSING = ("TargetGroupNotFound",)


@dataclass(frozen=True)
class LbNames:
    prefix: str

    @property
    def load_balancer(self) -> str:
        return self.prefix[:32]

    @property
    def target_group(self) -> str:
        return f"{self.prefix[:29]}-tg"

    @property
    def security_group(self) -> str:
        return f"{self.prefix}-lb"


def names_of(config: Config) -> LbNames:
    return LbNames(config.names().prefix)


def require_lb(config: Config) -> LoadBalancer:
    if config.lb is None:
        raise UsageError("lb is not set in the config.", hint="Add an `lb:` section (see configs/base.yaml).")
    return config.lb


@dataclass
class Listener:
    protocol: str
    port: int
    action: str
    url: str
    ssl_policy: str | None = None


@dataclass
class TargetHealth:
    id: str
    port: int | None
    state: str
    reason: str | None
    description: str | None


@dataclass
class ApplyResult:
    load_balancer: str
    dns_name: str
    listeners: list[Listener]
    targets: list[TargetHealth]
    controls: list[ControlResult]
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.controls)

    @property
    def url(self) -> str | None:
        """Where requests go: the forwarding listener's address."""
        forwarding = [listener for listener in self.listeners if listener.action.startswith("forward")]
        return forwarding[0].url if forwarding else None


@dataclass
class LbStatus:
    exists: bool
    load_balancer: str
    type: str
    scheme: str | None
    state: str | None
    dns_name: str | None
    listeners: list[Listener] = field(default_factory=list)
    targets: list[TargetHealth] = field(default_factory=list)
    healthy: int = 0
    min_healthy: int = 1

    @property
    def ok(self) -> bool:
        return self.exists and all(t.state == "healthy" for t in self.targets) and self.healthy >= self.min_healthy


@dataclass
class DeleteResult:
    load_balancer: str
    deleted: list[str]


@dataclass
class Network:
    vpc_id: str
    subnets: list[str]
    cidr: str = ""  # the VPC's primary IPv4 block: where ip, instance and vpc_endpoint targets live


def resolve_network(clients: AwsClients, lb: LoadBalancer) -> Network:
    """The VPC ('default': the account's default VPC) and subnets (default: one per zone), in two zones at least."""
    ec2 = clients.client("ec2")
    with aws_errors("finding the load balancer's VPC and subnets"):
        if lb.vpc_id == "default":
            vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
            if not vpcs:
                raise PreconditionFailed(
                    "The account has no default VPC in this region.", hint="Set lb.vpc_id and lb.subnets."
                )
            vpc_id, cidr = vpcs[0]["VpcId"], vpcs[0].get("CidrBlock", "")
        else:
            vpc_id = lb.vpc_id
            # a filter, not VpcIds: a VPC that does not exist is the subnet check's precondition below, not an error
            found = ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"]
            cidr = found[0].get("CidrBlock", "") if found else ""
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}]
        if lb.subnets:
            filters.append({"Name": "subnet-id", "Values": lb.subnets})
        subnets = ec2.describe_subnets(Filters=filters)["Subnets"]
    missing = set(lb.subnets) - {s["SubnetId"] for s in subnets}
    if missing:
        raise PreconditionFailed(f"Subnets {', '.join(sorted(missing))} are not in VPC {vpc_id}.")
    by_zone: dict[str, str] = {}
    for subnet in sorted(subnets, key=lambda s: s["SubnetId"]):
        by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
    chosen = [s["SubnetId"] for s in subnets] if lb.subnets else sorted(by_zone.values())
    if len(by_zone) < 2:
        raise PreconditionFailed(
            f"The load balancer needs subnets in two availability zones; VPC {vpc_id} gives {len(by_zone)}."
        )
    return Network(vpc_id, sorted(chosen), cidr)


def find_load_balancer(clients: AwsClients, config: Config) -> dict[str, Any] | None:
    found = get_or_none(
        "reading the load balancer",
        _LB_MISSING,
        clients.client("elbv2").describe_load_balancers,
        Names=[names_of(config).load_balancer],
    )
    return found["LoadBalancers"][0] if found and found["LoadBalancers"] else None


def find_target_group(clients: AwsClients, config: Config) -> dict[str, Any] | None:
    found = get_or_none(
        "reading the target group",
        _TG_MISSING,
        clients.client("elbv2").describe_target_groups,
        Names=[names_of(config).target_group],
    )
    return found["TargetGroups"][0] if found and found["TargetGroups"] else None


def find_security_group(clients: AwsClients, config: Config, vpc_id: str) -> dict[str, Any] | None:
    with aws_errors("reading the load balancer's security group"):
        groups = clients.client("ec2").describe_security_groups(
            Filters=[
                {"Name": "vpc-id", "Values": [vpc_id]},
                {"Name": "group-name", "Values": [names_of(config).security_group]},
            ]
        )["SecurityGroups"]
    return groups[0] if groups else None


# --- desired settings ----------------------------------------------------------------------------------------------


def listener_ports(lb: LoadBalancer) -> list[int]:
    """The ports clients connect to: the listener's, plus 80 for the HTTPS redirect of an ALB."""
    ports = [lb.listener_port]
    if lb.type == "application" and lb.certificate_arn and lb.listener_port != 80:
        ports.append(80)
    return ports


def ingress_rules(lb: LoadBalancer) -> list[str]:
    return sorted(f"tcp:{port}:{cidr}" for port in listener_ports(lb) for cidr in lb.allowed_cidrs)


def egress_rules(lb: LoadBalancer, vpc_cidr: str) -> list[str]:
    """Where the load balancer may connect: its targets' ports (and a health check port of its own) in the VPC,
    and listed ip targets outside it. Nothing for a Lambda target: the load balancer invokes it without a network
    connection (Elastic Load Balancing guide, "Lambda functions as targets")."""
    import ipaddress

    if lb.target.type == "lambda":
        return []
    ports = {lb.target.port} | {t.port for t in lb.target.targets if t.port}
    if isinstance(lb.health_check.port, int):
        ports.add(lb.health_check.port)
    cidrs = {vpc_cidr} if vpc_cidr else set()
    if lb.target.type == "ip":
        network = ipaddress.ip_network(vpc_cidr) if vpc_cidr else None
        for target in lb.target.targets:
            address = ipaddress.ip_address(target.id)
            if network is None or address not in network:
                cidrs.add(f"{address}/32")
    return sorted(f"tcp:{port}:{cidr}" for port in ports for cidr in cidrs)


def attributes(lb: LoadBalancer, log_bucket: str) -> dict[str, str]:
    values = {
        "deletion_protection.enabled": _flag(lb.deletion_protection),
        "access_logs.s3.enabled": _flag(lb.access_logs),
    }
    if lb.access_logs:
        values |= {"access_logs.s3.bucket": log_bucket, "access_logs.s3.prefix": ACCESS_LOG_PREFIX}
    if lb.type == "application":
        values |= {
            "routing.http.drop_invalid_header_fields.enabled": "true",
            "routing.http.desync_mitigation_mode": "strictest",
            "idle_timeout.timeout_seconds": str(lb.idle_timeout_seconds),
        }
    else:
        values["load_balancing.cross_zone.enabled"] = "true"
    return values


def _flag(value: bool) -> str:
    return "true" if value else "false"


def target_protocol(lb: LoadBalancer) -> str | None:
    if lb.target.type == "lambda":
        return None
    if lb.target.type == "vpc_endpoint":
        return "HTTPS" if lb.type == "application" else "TCP"
    if lb.type == "network":
        return "TLS" if lb.target.protocol in ("HTTPS", "TLS") else "TCP"
    return "HTTPS" if lb.target.protocol in ("HTTPS", "TLS") else "HTTP"


def target_group_settings(lb: LoadBalancer) -> dict[str, Any]:
    """The target group's kind and health check, in the shape DescribeTargetGroups answers."""
    check = lb.health_check
    protocol = target_protocol(lb)
    settings: dict[str, Any] = {
        "TargetType": "ip" if lb.target.type == "vpc_endpoint" else lb.target.type,
        "HealthCheckEnabled": True,
        "HealthCheckIntervalSeconds": check.interval_seconds,
        "HealthCheckTimeoutSeconds": check.timeout_seconds,
        "HealthyThresholdCount": check.healthy_threshold,
        "UnhealthyThresholdCount": check.unhealthy_threshold,
    }
    check_protocol = check.protocol or (protocol if protocol in ("HTTP", "HTTPS") else "TCP")
    if check_protocol != "TCP" or lb.target.type == "lambda":
        settings |= {"HealthCheckPath": check.path, "Matcher": {"HttpCode": check.matcher}}
    if protocol is not None:
        settings |= {
            "Protocol": protocol,
            "Port": lb.target.port,
            "HealthCheckProtocol": check_protocol,
            "HealthCheckPort": str(check.port),
        }
    return settings


def listener_definitions(lb: LoadBalancer, target_group_arn: str) -> dict[int, dict[str, Any]]:
    """Port → listener settings. A certificate: HTTPS (TLS on an NLB) with the configured policy, and on an ALB port
    80 redirects to it. None: plain HTTP (TCP), which the config only allows for internal load balancers."""
    forward = [{"Type": "forward", "TargetGroupArn": target_group_arn}]
    secure = lb.certificate_arn is not None
    protocols = {"network": ("TLS", "TCP"), "application": ("HTTPS", "HTTP")}[lb.type]
    protocol = protocols[0] if secure else protocols[1]
    listeners: dict[int, dict[str, Any]] = {lb.listener_port: {"Protocol": protocol, "DefaultActions": forward}}
    if secure:
        listeners[lb.listener_port] |= {
            "Certificates": [{"CertificateArn": lb.certificate_arn}],
            "SslPolicy": lb.ssl_policy,
        }
    if lb.type == "application" and secure and lb.listener_port != 80:
        redirect = {"Protocol": "HTTPS", "Port": str(lb.listener_port), "StatusCode": "HTTP_301"}
        listeners[80] = {"Protocol": "HTTP", "DefaultActions": [{"Type": "redirect", "RedirectConfig": redirect}]}
    return listeners


# --- controls ------------------------------------------------------------------------------------------------------


class _State:
    """ARNs and ids learnt while converging: later controls need what earlier ones create. Once a resource is found
    its id stays the same for the run, so it is looked up until found and then remembered."""

    def __init__(self, clients: AwsClients, config: Config, network: Network) -> None:
        self.clients, self.config, self.network = clients, config, network
        self.lb = require_lb(config)
        self.elbv2, self.ec2 = clients.client("elbv2"), clients.client("ec2")
        self._ids: dict[str, str] = {}

    def _remembered(self, kind: str, find: Callable[[], dict[str, Any] | None], key: str) -> str | None:
        if kind not in self._ids:
            found = find()
            if found is None:
                return None
            self._ids[kind] = found[key]
        return self._ids[kind]

    def lb_arn(self) -> str | None:
        return self._remembered("lb", lambda: find_load_balancer(self.clients, self.config), "LoadBalancerArn")

    def tg_arn(self) -> str | None:
        return self._remembered("tg", lambda: find_target_group(self.clients, self.config), "TargetGroupArn")

    def sg_id(self) -> str | None:
        vpc = self.network.vpc_id
        return self._remembered("sg", lambda: find_security_group(self.clients, self.config, vpc), "GroupId")

    def require(self, value: str | None, what: str) -> str:
        if value is None:
            raise OperationFailed(f"The {what} does not exist.")
        return value


def _rules(group: dict[str, Any], key: str) -> list[str]:
    return sorted(
        f"{p.get('IpProtocol')}:{p.get('FromPort', 'all') if p.get('IpProtocol') != '-1' else 'all'}:{r['CidrIp']}"
        for p in group.get(key, [])
        for r in p.get("IpRanges", [])
    )


def _security_group_controls(s: _State) -> list[Control]:
    """The load balancer's security group: clients from allowed_cidrs on the listener ports in, the targets out.
    An NLB takes one too (AWS can attach a security group to an NLB only when it is created)."""
    name = names_of(s.config).security_group

    def read_ingress() -> list[str] | None:
        group = find_security_group(s.clients, s.config, s.network.vpc_id)
        return None if group is None else _rules(group, "IpPermissions")

    def read_egress() -> list[str] | None:
        group = find_security_group(s.clients, s.config, s.network.vpc_id)
        return None if group is None else _rules(group, "IpPermissionsEgress")

    def group_id() -> str:
        found = s.sg_id()
        if found is not None:
            return found
        with aws_errors(f"creating security group {name}"):
            return str(
                s.ec2.create_security_group(
                    GroupName=name,
                    Description=f"Clients of load balancer {names_of(s.config).load_balancer} (mlops)",
                    VpcId=s.network.vpc_id,
                    TagSpecifications=[
                        {"ResourceType": "security-group", "Tags": as_key_value(s.config.standard_tags(STAGE))}
                    ],
                )["GroupId"]
            )

    def converge_rules(current: list[str] | None, wanted: list[str], egress: bool) -> None:
        gid = group_id()
        direction = "egress" if egress else "ingress"
        have, want = set(current or []), set(wanted)
        with aws_errors(f"writing the {direction} rules of security group {name}"):
            if have - want:
                revoke = s.ec2.revoke_security_group_egress if egress else s.ec2.revoke_security_group_ingress
                revoke(GroupId=gid, IpPermissions=_permissions(have - want))
            if want - have:
                authorize = s.ec2.authorize_security_group_egress if egress else s.ec2.authorize_security_group_ingress
                authorize(GroupId=gid, IpPermissions=_permissions(want - have))

    ingress, egress = ingress_rules(s.lb), egress_rules(s.lb, s.network.cidr)
    return [
        Control("security group", ingress, read_ingress, lambda: converge_rules(read_ingress(), ingress, False)),
        Control(
            "security group egress",
            egress,
            read_egress,
            lambda: converge_rules(read_egress(), egress, True),
            parent="security group",
        ),
    ]


def _permissions(rules: set[str]) -> list[dict[str, Any]]:
    permissions = []
    for rule in sorted(rules):
        protocol, port, cidr = rule.split(":", 2)
        permission: dict[str, Any] = {"IpProtocol": protocol, "IpRanges": [{"CidrIp": cidr}]}
        if protocol != "-1":
            permission |= {"FromPort": int(port), "ToPort": int(port)}
        permissions.append(permission)
    return permissions


def _load_balancer_control(s: _State) -> Control:
    def desired() -> dict[str, Any]:
        return {
            "Type": s.lb.type,
            "Scheme": s.lb.scheme,
            "Subnets": s.network.subnets,
            "SecurityGroups": [s.sg_id()],
        }

    def read() -> dict[str, Any] | None:
        found = find_load_balancer(s.clients, s.config)
        if found is None:
            return None
        return {
            "Type": found["Type"],
            "Scheme": found["Scheme"],
            "Subnets": sorted(z["SubnetId"] for z in found.get("AvailabilityZones", [])),
            "SecurityGroups": sorted(found.get("SecurityGroups", [])),
        }

    def write() -> None:
        name = names_of(s.config).load_balancer
        current, wanted = read(), desired()
        with aws_errors(f"writing load balancer {name}"):
            if current is None:
                s.elbv2.create_load_balancer(
                    Name=name,
                    Subnets=wanted["Subnets"],
                    Scheme=s.lb.scheme,
                    Type=s.lb.type,
                    IpAddressType="ipv4",
                    Tags=as_key_value(s.config.standard_tags(STAGE)),
                    SecurityGroups=wanted["SecurityGroups"],
                )
                return
            if (current["Type"], current["Scheme"]) != (wanted["Type"], wanted["Scheme"]):
                raise OperationFailed(
                    f"Load balancer {name} is {current['Scheme']} {current['Type']}; the config asks for "
                    f"{wanted['Scheme']} {wanted['Type']}, which AWS cannot change in place.",
                    hint="Delete it first: `mlops lb delete --yes`, then `mlops lb apply`.",
                )
            arn = s.require(s.lb_arn(), "load balancer")
            if current["Subnets"] != wanted["Subnets"]:
                s.elbv2.set_subnets(LoadBalancerArn=arn, Subnets=wanted["Subnets"])
            if current["Type"] == "network" and not current["SecurityGroups"]:
                raise OperationFailed(
                    f"Network Load Balancer {name} has no security group, so it admits every source; AWS can give "
                    "an NLB a security group only when it is created.",
                    hint="Recreate it: `mlops lb delete --yes`, then `mlops lb apply`.",
                )
            if current["SecurityGroups"] != wanted["SecurityGroups"]:
                s.elbv2.set_security_groups(LoadBalancerArn=arn, SecurityGroups=wanted["SecurityGroups"])

    return Control("load balancer", desired, read, write, matches=same_document)


def _attributes_control(s: _State) -> Control:
    desired = attributes(s.lb, s.config.names(s.clients.account_id).log_bucket)

    def read() -> dict[str, str] | None:
        arn = s.lb_arn()
        if arn is None:
            return None
        with aws_errors("reading the load balancer's attributes"):
            found = s.elbv2.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]
        values = {a["Key"]: a["Value"] for a in found}
        return {key: values.get(key, "") for key in desired}

    def write() -> None:
        with aws_errors("setting the load balancer's attributes"):
            s.elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=s.require(s.lb_arn(), "load balancer"),
                Attributes=[{"Key": k, "Value": v} for k, v in desired.items()],
            )

    return Control("load balancer attributes", desired, read, write, parent="load balancer")


_TG_FIXED = ("TargetType", "Protocol", "Port")


def _target_group_control(s: _State) -> Control:
    desired = target_group_settings(s.lb)

    def read() -> dict[str, Any] | None:
        found = find_target_group(s.clients, s.config)
        return None if found is None else {k: found.get(k) for k in desired}

    def write() -> None:
        name = names_of(s.config).target_group
        current = read()
        with aws_errors(f"writing target group {name}"):
            if current is None:
                vpc = {"VpcId": s.network.vpc_id} if desired["TargetType"] != "lambda" else {}
                s.elbv2.create_target_group(
                    Name=name, Tags=as_key_value(s.config.standard_tags(STAGE)), **vpc, **desired
                )
                return
            if any(current.get(k) != desired.get(k) for k in _TG_FIXED):
                raise OperationFailed(
                    f"Target group {name} has a different target type, protocol or port than the config, which AWS "
                    "cannot change in place.",
                    hint="Delete it first: `mlops lb delete --yes`, then `mlops lb apply`.",
                )
            changes = {k: v for k, v in desired.items() if k not in _TG_FIXED}
            s.elbv2.modify_target_group(TargetGroupArn=s.require(s.tg_arn(), "target group"), **changes)

    return Control("target group", desired, read, write, matches=same_document)


def registered_targets(clients: AwsClients, target_group_arn: str) -> list[TargetHealth]:
    with aws_errors("reading the targets' health"):
        found = clients.client("elbv2").describe_target_health(TargetGroupArn=target_group_arn)
    return [
        TargetHealth(
            d["Target"]["Id"],
            d["Target"].get("Port"),
            d["TargetHealth"]["State"],
            d["TargetHealth"].get("Reason"),
            d["TargetHealth"].get("Description"),
        )
        for d in found["TargetHealthDescriptions"]
    ]


def _targets_control(s: _State, wanted: Callable[[], list[dict[str, Any]]]) -> Control:
    """Register the targets the config implies. Listed ip/instance targets added by hand (`lb targets add`) stay;
    the proxy function or the endpoint's IPs replace any others."""

    def key(target: dict[str, Any]) -> str:
        return f"{target['Id']}:{target.get('Port') or ''}"  # lambda targets have no port

    def read() -> list[str] | None:
        arn = s.tg_arn()
        if arn is None:
            return None
        registered = sorted(key({"Id": t.id, "Port": t.port}) for t in registered_targets(s.clients, arn))
        if s.lb.target.type in ("ip", "instance"):  # hand-added ones do not count as drift
            desired = {key(t) for t in wanted()}
            return sorted(k for k in registered if k in desired)
        return registered

    def write() -> None:
        arn = s.require(s.tg_arn(), "target group")
        targets = wanted()
        with aws_errors("registering targets"):
            current = registered_targets(s.clients, arn)
            if s.lb.target.type not in ("ip", "instance"):
                stale = [
                    _target(t.id, t.port)
                    for t in current
                    if key({"Id": t.id, "Port": t.port}) not in {key(x) for x in targets}
                ]
                if stale:
                    s.elbv2.deregister_targets(TargetGroupArn=arn, Targets=stale)
            if targets:
                s.elbv2.register_targets(TargetGroupArn=arn, Targets=targets)

    return Control("targets", lambda: sorted(key(t) for t in wanted()), read, write, parent="target group")


def _target(target_id: str, port: int | None) -> dict[str, Any]:
    return {"Id": target_id, "Port": port} if port else {"Id": target_id}


def _listener_controls(s: _State) -> list[Control]:
    def desired() -> dict[str, Any]:
        tg = s.tg_arn() or "(target group)"
        return {str(port): definition for port, definition in listener_definitions(s.lb, tg).items()}

    def read() -> dict[str, Any] | None:
        arn = s.lb_arn()
        if arn is None:
            return None
        with aws_errors("reading the listeners"):
            found = s.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]
        wanted = desired()
        current = {}
        for listener in found:
            fields = wanted.get(str(listener["Port"]), {"Protocol": None, "DefaultActions": None})
            current[str(listener["Port"])] = {k: _listener_field(listener, k) for k in fields}
        return current or None

    def write() -> None:
        arn = s.require(s.lb_arn(), "load balancer")
        wanted = desired()
        with aws_errors("writing the listeners"):
            found = {str(x["Port"]): x for x in s.elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]}
            for port, listener in found.items():
                if port not in wanted:
                    s.elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
            for port, definition in wanted.items():
                if port in found:
                    s.elbv2.modify_listener(ListenerArn=found[port]["ListenerArn"], Port=int(port), **definition)
                else:
                    s.elbv2.create_listener(
                        LoadBalancerArn=arn,
                        Port=int(port),
                        Tags=as_key_value(s.config.standard_tags(STAGE)),
                        **definition,
                    )

    return [Control("listeners", desired, read, write, matches=same_document, parent="load balancer")]


def _listener_field(listener: dict[str, Any], key: str) -> Any:
    value = listener.get(key)
    if key == "DefaultActions":
        return [
            {k: v for k, v in action.items() if k in ("Type", "TargetGroupArn", "RedirectConfig")}
            | ({"RedirectConfig": _redirect(action["RedirectConfig"])} if action.get("RedirectConfig") else {})
            for action in value or []
        ]
    if key == "Certificates":
        return [{"CertificateArn": c["CertificateArn"]} for c in value or []]
    return value


def _redirect(config: dict[str, Any]) -> dict[str, Any]:
    return {k: config[k] for k in ("Protocol", "Port", "StatusCode") if k in config}


def _controls(clients: AwsClients, config: Config, network: Network) -> list[Control]:
    s = _State(clients, config, network)
    kind = s.lb.target.type
    controls = _security_group_controls(s)
    controls += [_load_balancer_control(s), _attributes_control(s), _target_group_control(s)]
    if kind == "lambda":
        controls += lb_proxy.function_controls(clients, config, s.lb)
        controls.append(lb_proxy.permission_control(clients, config, s.tg_arn))
        wanted: Callable[[], list[dict[str, Any]]] = lambda: [{"Id": lb_proxy.function_arn(clients, config)}]  # noqa: E731
    elif kind == "vpc_endpoint":
        controls.append(lb_proxy.vpc_endpoint_control(clients, config, network.vpc_id, network.subnets))
        wanted = lambda: [  # noqa: E731
            {"Id": ip, "Port": s.lb.target.port} for ip in lb_proxy.vpc_endpoint_ips(clients, config, network.vpc_id)
        ]
    else:
        wanted = lambda: [_target(t.id, t.port or s.lb.target.port) for t in s.lb.target.targets]  # noqa: E731
    controls.append(_targets_control(s, wanted))
    controls += _listener_controls(s)
    return controls


# --- commands ------------------------------------------------------------------------------------------------------


def apply(clients: AwsClients, config: Config, *, wait: bool = True, timeout: float | None = 300) -> ApplyResult:
    lb = require_lb(config)
    if lb.target.type in ("lambda", "vpc_endpoint") and describe_endpoint(clients, endpoint_name(config)) is None:
        raise PreconditionFailed(
            f"Endpoint {endpoint_name(config)} does not exist: the load balancer would have nothing to reach.",
            hint="Deploy a model first: `mlops deploy apply`.",
        )
    network = resolve_network(clients, lb)
    results = converge(_controls(clients, config, network))
    if wait:
        wait_until_healthy(clients, config, timeout=timeout)
    current = status(clients, config)
    return ApplyResult(
        current.load_balancer, current.dns_name or "", current.listeners, current.targets, results, warnings(lb)
    )


def warnings(lb: LoadBalancer) -> list[str]:
    if lb.allow_plain_http:
        return [
            f"The load balancer serves plain {'HTTP' if lb.type == 'application' else 'TCP'}: requests and "
            f"predictions cross the network unencrypted ({lb.plain_http_reason})."
        ]
    return []


def wait_until_healthy(clients: AwsClients, config: Config, *, timeout: float | None) -> None:
    """The load balancer active and every target passing its health checks (boto3's waiters)."""
    elbv2, attempts = clients.client("elbv2"), max(1, int((timeout or 300) / 2))
    found = find_load_balancer(clients, config)
    tg = find_target_group(clients, config)
    if found is None or tg is None:
        return

    def wait_for(waiter: str, **kwargs: Any) -> None:
        with aws_errors("waiting for the load balancer"):
            elbv2.get_waiter(waiter).wait(**kwargs, WaiterConfig={"Delay": 2, "MaxAttempts": attempts})

    # a short outage (AWS unreachable, throttling, 5xx) starts the waiter again instead of ending the wait
    outage = Outage(give_up_hint="The load balancer goes on in AWS: see `mlops lb status` once AWS answers again.")
    try:
        outage.call(wait_for, "load_balancer_available", LoadBalancerArns=[found["LoadBalancerArn"]])
        outage.call(wait_for, "target_in_service", TargetGroupArn=tg["TargetGroupArn"])
    except WaitTimeout:
        raise WaitTimeout(
            f"The targets did not all become healthy within {timeout:g} s.",
            hint="See why with `mlops lb status`: each target's state and reason.",
        ) from None


def _listeners(clients: AwsClients, lb: dict[str, Any]) -> list[Listener]:
    elbv2 = clients.client("elbv2")
    with aws_errors("reading the listeners"):
        found = elbv2.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
        arns = [listener["ListenerArn"] for listener in found]
        tags = (
            {
                d["ResourceArn"]: from_key_value(d.get("Tags"))
                for d in elbv2.describe_tags(ResourceArns=arns)["TagDescriptions"]
            }
            if arns
            else {}
        )
    listeners = []
    for item in sorted(found, key=lambda x: x["Port"]):
        action = item["DefaultActions"][0] if item.get("DefaultActions") else {}
        if action.get("Type") == "redirect":
            redirect = action["RedirectConfig"]
            summary = f"redirect to {redirect.get('Protocol')}:{redirect.get('Port')}"
        else:
            summary = action.get("Type", "-")
        scheme = (
            "https"
            if item["Protocol"] == "HTTPS"
            else "http"
            if item["Protocol"] == "HTTP"
            else item["Protocol"].lower()
        )
        url = tags.get(item["ListenerArn"], {}).get(EMULATOR_URL_TAG) or f"{scheme}://{lb['DNSName']}:{item['Port']}"
        listeners.append(
            Listener(
                item["Protocol"],
                item["Port"],
                summary,
                url,
                item.get("SslPolicy") if item["Protocol"] in ("HTTPS", "TLS") else None,
            )
        )
    return listeners


def status(clients: AwsClients, config: Config) -> LbStatus:
    lb = require_lb(config)
    name = names_of(config).load_balancer
    found = find_load_balancer(clients, config)
    if found is None:
        return LbStatus(False, name, lb.type, None, None, None, min_healthy=lb.min_healthy)
    tg = find_target_group(clients, config)
    targets = registered_targets(clients, tg["TargetGroupArn"]) if tg else []
    return LbStatus(
        exists=True,
        load_balancer=name,
        type=found["Type"],
        scheme=found["Scheme"],
        state=found["State"]["Code"],
        dns_name=found["DNSName"],
        listeners=_listeners(clients, found),
        targets=targets,
        healthy=sum(t.state == "healthy" for t in targets),
        min_healthy=lb.min_healthy,
    )


def change_targets(clients: AwsClients, config: Config, targets: list[str], *, add: bool) -> list[str]:
    """`lb targets add|remove ID[:PORT] …` for ip and instance target groups."""
    lb = require_lb(config)
    if lb.target.type not in ("ip", "instance"):
        raise UsageError(f"lb.target.type is {lb.target.type}: its targets are managed by `mlops lb apply`.")
    tg = find_target_group(clients, config)
    if tg is None:
        raise PreconditionFailed("The target group does not exist.", hint="Run `mlops lb apply` first.")
    parsed = []
    for item in targets:
        target_id, _, port = item.partition(":")
        if port and not port.isdigit():
            raise UsageError(f"{item}: expected ID or ID:PORT.")
        parsed.append(_target(target_id, int(port) if port else lb.target.port))
    elbv2 = clients.client("elbv2")
    with aws_errors("registering targets" if add else "deregistering targets"):
        if add:
            elbv2.register_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=parsed)
        else:
            elbv2.deregister_targets(TargetGroupArn=tg["TargetGroupArn"], Targets=parsed)
    return [f"{t['Id']}:{t.get('Port', '')}" for t in parsed]


def delete(clients: AwsClients, config: Config) -> DeleteResult:
    """Listeners, load balancer (deletion protection turned off first), target group, security group, proxy function
    and its role, VPC endpoint. Deleting twice succeeds."""
    lb = require_lb(config)
    names, elbv2 = names_of(config), clients.client("elbv2")
    deleted: list[str] = []
    found = find_load_balancer(clients, config)
    if found is not None:
        arn = found["LoadBalancerArn"]
        with aws_errors(f"deleting load balancer {names.load_balancer}"):
            for listener in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
                elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
                deleted.append(f"listener {listener['Protocol']}:{listener['Port']}")
            elbv2.modify_load_balancer_attributes(
                LoadBalancerArn=arn, Attributes=[{"Key": "deletion_protection.enabled", "Value": "false"}]
            )
            elbv2.delete_load_balancer(LoadBalancerArn=arn)
            elbv2.get_waiter("load_balancers_deleted").wait(LoadBalancerArns=[arn], WaiterConfig={"Delay": 2})
        deleted.append(f"load balancer {names.load_balancer}")
    tg = find_target_group(clients, config)
    if tg is not None:
        with aws_errors(f"deleting target group {names.target_group}"):
            elbv2.delete_target_group(TargetGroupArn=tg["TargetGroupArn"])
        deleted.append(f"target group {names.target_group}")
    network = resolve_network(clients, lb)
    group = find_security_group(clients, config, network.vpc_id)
    if group is not None:
        with aws_errors(f"deleting security group {names.security_group}"):
            clients.client("ec2").delete_security_group(GroupId=group["GroupId"])
        deleted.append(f"security group {names.security_group}")
    deleted += lb_proxy.delete_function(clients, config)
    deleted += lb_proxy.delete_vpc_endpoint(clients, config, network.vpc_id)
    return DeleteResult(names.load_balancer, deleted)
