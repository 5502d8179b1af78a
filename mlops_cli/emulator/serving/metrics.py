"""The endpoint invocation metrics SageMaker publishes, put straight into the emulator's CloudWatch (in-process:
one request must not wait for another HTTP call), so alarms the tool creates on them can be evaluated.

Namespace `AWS/SageMaker`, dimensions EndpointName and VariantName, one datapoint per invocation:
Invocations (1), Invocation4XXErrors / Invocation5XXErrors (1 or 0), InvocationsPerInstance (1 / instance count),
ModelLatency and OverheadLatency (microseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops_cli.emulator.jobs.runtime import announce

NAMESPACE = "AWS/SageMaker"


@dataclass(frozen=True)
class Invocation:
    account_id: str
    region: str
    endpoint: str
    variant: str
    status: int  # the container's status; 0 when it did not answer
    model_latency_us: int
    overhead_latency_us: int
    instance_count: int


_warned = False


def publish(invocation: Invocation) -> None:
    from moto.cloudwatch.models import cloudwatch_backends

    dimensions = [
        {"Name": "EndpointName", "Value": invocation.endpoint},
        {"Name": "VariantName", "Value": invocation.variant},
    ]
    client_error = 400 <= invocation.status < 500
    server_error = invocation.status >= 500 or invocation.status == 0
    data = [
        ("Invocations", 1.0, "None"),
        ("Invocation4XXErrors", 1.0 if client_error else 0.0, "None"),
        ("Invocation5XXErrors", 1.0 if server_error else 0.0, "None"),
        ("InvocationsPerInstance", 1.0 / max(1, invocation.instance_count), "None"),
        ("ModelLatency", float(invocation.model_latency_us), "Microseconds"),
        ("OverheadLatency", float(invocation.overhead_latency_us), "Microseconds"),
    ]
    try:
        backend = cloudwatch_backends[invocation.account_id][invocation.region]
        backend.put_metric_data(
            NAMESPACE,
            [
                {"MetricName": name, "Value": value, "Unit": unit, "Dimensions": dimensions}
                for name, value, unit in data
            ],
        )
    except Exception as exc:  # metrics must never fail an invocation
        global _warned
        if not _warned:
            _warned = True
            announce(f"could not publish endpoint metrics: {exc}")
