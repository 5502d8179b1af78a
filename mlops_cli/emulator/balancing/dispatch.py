"""What an HTTP or HTTPS listener does with one request: the actions of the first matching rule (or the default
actions), in Order: `forward` (one target group, or several weighted by ForwardConfig) to the next target by
round robin, `redirect`, `fixed-response`. Authentication actions cannot be emulated and answer 501."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlops_cli.emulator.balancing import lambda_events, proxy, redirect, rules
from mlops_cli.emulator.balancing.messages import Answer, Request, load_balancer_error
from mlops_cli.emulator.balancing.targets import Unreachable, address

if TYPE_CHECKING:
    from mlops_cli.emulator.balancing.plane import ListenerRef, Plane

_REDIRECT_TITLES = {301: "301 Moved Permanently", 302: "302 Found"}


def handle(plane: Plane, ref: ListenerRef, request: Request) -> Answer:
    listener = plane.moto_listener(ref)
    if listener is None:
        return load_balancer_error(503, "the listener no longer exists")
    for action in rules.actions_for(listener, request):
        kind = action.data.get("Type")
        if kind == "forward":
            return _forward(plane, ref, action.data, request)
        if kind == "redirect":
            return _redirect(ref, action.data.get("RedirectConfig") or {}, request)
        if kind == "fixed-response":
            return _fixed_response(action.data.get("FixedResponseConfig") or {})
        if kind in ("authenticate-oidc", "authenticate-cognito"):
            return load_balancer_error(501, f"the emulator cannot run {kind} actions (no identity provider locally)")
    return load_balancer_error(503, "the listener has no action for this request")


def _fixed_response(config: dict[str, Any]) -> Answer:
    status = int(config.get("StatusCode") or 200)
    headers = [("Server", "awselb/2.0"), ("Content-Type", config.get("ContentType") or "text/plain; charset=utf-8")]
    return Answer(status, headers, str(config.get("MessageBody") or "").encode())


def _redirect(ref: ListenerRef, config: dict[str, Any], request: Request) -> Answer:
    host, port = request.host_and_port()
    if not host:
        return load_balancer_error(400, "a redirect needs the request's Host header")
    original = redirect.OriginalUrl(
        protocol=ref.protocol,
        host=host,
        port=port or str(request.local_port),
        path=request.path or "/",
        query=request.query,
    )
    status = redirect.status(config)
    title = _REDIRECT_TITLES[status]
    page = f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    headers = [
        ("Server", "awselb/2.0"),
        ("Content-Type", "text/html"),
        ("Location", redirect.location(config, original)),
    ]
    return Answer(status, headers, page.encode())


def _target_group_arn(plane: Plane, ref: ListenerRef, action: dict[str, Any]) -> str | None:
    if action.get("TargetGroupArn"):
        return str(action["TargetGroupArn"])
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups") or []
    weighted = [(str(item["TargetGroupArn"]), float(item.get("Weight", 1) or 0)) for item in groups]
    return plane.weighted(ref.arn, weighted)


def _forward(plane: Plane, ref: ListenerRef, action: dict[str, Any], request: Request) -> Answer:
    arn = _target_group_arn(plane, ref, action)
    monitor = plane.group_monitor(arn) if arn else None
    if monitor is None:
        return load_balancer_error(503, "the target group has no registered targets")
    key = monitor.pick()
    if key is None:
        return load_balancer_error(503, "the target group has no registered targets")
    group = monitor.group
    if group.target_type == "lambda":
        return _invoke_function(group, key.id, request)
    try:
        host, port = address(group, key, key.port, monitor.ec2_backend, plane.alb_port)
    except Unreachable as exc:
        return load_balancer_error(502, str(exc))
    return proxy.forward(host, port, request, plane.idle_timeout(ref))


def _invoke_function(group: Any, function_arn: str, request: Request) -> Answer:
    from mlops_cli.emulator.balancing.functions import functions

    if len(request.body) > lambda_events.MAX_REQUEST_BODY:
        return load_balancer_error(413, "a Lambda target takes request bodies of 1 MB at most")
    multi_value = str(group.attributes.get("lambda.multi_value_headers.enabled", "false")).lower() == "true"
    event = lambda_events.event(request, str(group.arn), multi_value)
    outcome = functions.invoke(function_arn, group.account_id, group.region_name, event)
    if not outcome.ok:
        return load_balancer_error(502, f"the Lambda function failed ({outcome.kind}): {outcome.message}")
    try:
        return lambda_events.answer(outcome.result)
    except lambda_events.InvalidResponse as exc:
        return load_balancer_error(502, f"the Lambda function's response is not valid: {exc}")
