"""How endpoints look to a person."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import styled, table


def apply_view(result: Any) -> RenderableType:
    rows = [
        ("endpoint", result.endpoint),
        ("model version", result.version),
        ("endpoint config", result.endpoint_config),
    ]
    rows.append(("result", styled(result.action.value)))
    if result.previous_version is not None:
        rows.append(("previous version", result.previous_version))
    rows += [(c.name, styled(c.action.value)) for c in result.controls]
    if result.pin:
        rows.append(("pin", result.pin))
    return table(f"Endpoint {result.endpoint}", ["", ""], rows)


def status_view(status: Any) -> RenderableType:
    rows = [
        ("status", status.status),
        ("model version", status.version),
        ("previous version", status.previous_version or "-"),
        ("pinned by rollback", status.pinned_version or "-"),
        ("endpoint config", status.endpoint_config),
    ]
    for variant in status.variants:
        rows.append(
            (
                f"variant {variant['name']}",
                f"{variant['current_instances']} instance(s) (desired {variant['desired_instances']}), weight {variant['weight']}",
            )
        )
    if status.autoscaling:
        a = status.autoscaling
        rows.append(
            (
                "autoscaling",
                f"{a['min']}..{a['max']} instances, {a['invocations_per_instance']} invocations/instance/min",
            )
        )
    rows += [(f"alarm {a['name']}", f"{a['state']} ({a['metric']} threshold {a['threshold']})") for a in status.alarms]
    if status.last_deployment:
        routing = status.last_deployment.get("BlueGreenUpdatePolicy", {}).get("TrafficRoutingConfiguration", {})
        rows.append(("last rollout", routing.get("Type", "-")))
    if status.failure_reason:
        rows.append(("failure reason", status.failure_reason))
    return table(f"Endpoint {status.endpoint}", ["", ""], rows)


# The fields of a prediction per task (the shipped handler's answer); the key is echoed besides
_ANSWERS = (
    ("probabilities", ("label", "probabilities")),
    ("probability", ("label", "probability")),
    ("value", ("value",)),
)


def prediction_view(prediction: Any) -> RenderableType:
    """A row per prediction: binary, its label and probability; multiclass, its label and that class's
    probability (`--json` has every class's); regression, its value. Any other answer is printed as it came."""
    body = prediction.body
    predictions = body.get("predictions") if isinstance(body, dict) else None
    if not isinstance(predictions, list) or not all(isinstance(p, dict) for p in predictions):
        return str(body).rstrip()
    first = predictions[0] if predictions else {"label": None, "probability": None}
    fields = next((names for marker, names in _ANSWERS if marker in first), ())
    keys = [k for k in first if k not in fields]
    if fields == ("label", "probabilities"):
        rows = [(i, *(p.get(k) for k in keys), p.get("label"), _top(p)) for i, p in enumerate(predictions)]
        return table("Predictions", ["row", *keys, "label", "probability"], rows)
    rows = [(i, *(p.get(k) for k in keys), *(p.get(f) for f in fields)) for i, p in enumerate(predictions)]
    return table("Predictions", ["row", *keys, *fields], rows)


def _top(prediction: dict[str, Any]) -> Any:
    """The probability of the predicted class."""
    probabilities = prediction.get("probabilities")
    return probabilities.get(prediction.get("label")) if isinstance(probabilities, dict) else None


def delete_view(result: Any) -> RenderableType:
    if not result.deleted:
        return f"Nothing to delete: endpoint {result.endpoint} and its resources are gone already."
    return Group(f"Deleted for {result.endpoint}:", *[f"  {item}" for item in result.deleted])
