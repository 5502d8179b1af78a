"""InvokeEndpoint: one request through the endpoint's routing to a variant server, with the runtime's checks and
errors, the invocation metrics, and data capture."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from mlops_cli.emulator.serving import metrics
from mlops_cli.emulator.serving.capture import Exchange
from mlops_cli.emulator.serving.endpoint import Endpoint, not_found
from mlops_cli.emulator.serving.errors import ModelError, RuntimeValidationError, log_group, log_group_arn
from mlops_cli.emulator.serving.variant import Answer

MAX_BODY_BYTES = 6_291_456  # the API's limit; botocore does not check it


@dataclass(frozen=True)
class Request:
    endpoint: str
    body: bytes
    content_type: str | None
    accept: str | None
    custom_attributes: str | None
    target_variant: str | None
    inference_id: str | None

    def container_headers(self) -> dict[str, str]:
        """What reaches the container: SageMaker passes these and drops the rest."""
        headers = {
            "Content-Type": self.content_type,
            "Accept": self.accept,
            "X-Amzn-SageMaker-Custom-Attributes": self.custom_attributes,
            "X-Amzn-SageMaker-Inference-Id": self.inference_id,
        }
        return {name: value for name, value in headers.items() if value}


@dataclass(frozen=True)
class Result:
    body: bytes
    content_type: str
    variant: str
    custom_attributes: str | None


def invoke(endpoint: Endpoint | None, account_id: str, region: str, request: Request) -> Result:
    if len(request.body) > MAX_BODY_BYTES:
        raise RuntimeValidationError(
            f"1 validation error detected: Value at 'body' failed to satisfy constraint: Member must have length "
            f"less than or equal to {MAX_BODY_BYTES}"
        )
    if endpoint is None:
        raise not_found(request.endpoint, account_id)
    started = time.perf_counter_ns()
    fleet, server = endpoint.acquire(request.target_variant)
    try:
        model_started = time.perf_counter_ns()
        answer = server.invoke(request.body, request.container_headers())
        model_latency = (time.perf_counter_ns() - model_started) // 1000
    finally:
        fleet.leave()
    metrics.publish(
        metrics.Invocation(
            account_id=account_id,
            region=region,
            endpoint=request.endpoint,
            variant=server.name,
            status=answer.status,
            model_latency_us=model_latency,
            overhead_latency_us=max(0, (time.perf_counter_ns() - started) // 1000 - model_latency),
            instance_count=server.plan.instance_count,
        )
    )
    if not 200 <= answer.status < 300:
        raise _model_error(answer, request.endpoint, account_id, region)
    if fleet.capture is not None:
        fleet.capture.offer(
            Exchange(
                variant=server.name,
                request_body=request.body,
                request_type=request.content_type or "application/json",
                response_body=answer.body,
                response_type=answer.content_type,
                inference_id=request.inference_id,
                at=dt.datetime.now(dt.UTC),
            )
        )
    return Result(answer.body, answer.content_type, server.name, answer.custom_attributes)


def _model_error(answer: Answer, endpoint: str, account_id: str, region: str) -> ModelError:
    text = answer.body.decode("utf-8", errors="replace")
    kind = "client" if 400 <= answer.status < 500 else "server"
    console = (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:"
        f"group={log_group(endpoint)}"
    )
    message = (
        f'Received {kind} error ({answer.status}) from primary with message "{text}". See {console} in account '
        f"{account_id} for more information."
    )
    return ModelError(
        message,
        original_status_code=answer.status or None,
        original_message=text,
        log_stream_arn=log_group_arn(region, account_id, endpoint),
    )
