"""CloudWatch alarm evaluation, which moto does not do (its alarms stay in the state they were created or set in).

`evaluate(backend, names)` sets each metric alarm's state from the stored metric data, as CloudWatch does: the
alarm's statistic (Sum, Average, SampleCount, Minimum, Maximum, or a pNN ExtendedStatistic) per Period over the
last EvaluationPeriods periods ending now; ALARM when at least DatapointsToAlarm of them breach the threshold,
OK when there is data and too few breach, and for periods without data what TreatMissingData says (missing:
skipped, INSUFFICIENT_DATA if none has data; ignore: state kept; breaching / notBreaching). Metric-math and
composite alarms are left alone.

It runs when a deployment bakes (`firing`) and before DescribeAlarms answers (the patch below), so a client sees
states that follow the data.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from typing import Any

from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.utils import utcnow

from mlops_cli.emulator.extensions.patching import Patch

_COMPARISONS = {
    "GreaterThanOrEqualToThreshold": (lambda value, threshold: value >= threshold, "greater than or equal to"),
    "GreaterThanThreshold": (lambda value, threshold: value > threshold, "greater than"),
    "LessThanThreshold": (lambda value, threshold: value < threshold, "less than"),
    "LessThanOrEqualToThreshold": (lambda value, threshold: value <= threshold, "less than or equal to"),
}


def firing(account_id: str, region: str, names: list[str]) -> list[str]:
    """Which of the alarms `names` are in ALARM: as they stand (SetAlarmState counts), or once evaluated."""
    from moto.cloudwatch.models import cloudwatch_backends

    backend = cloudwatch_backends[account_id][region]
    in_alarm = [name for name in names if _state(backend, name) == "ALARM"]
    if in_alarm:
        return in_alarm
    evaluate(backend, names)
    return [name for name in names if _state(backend, name) == "ALARM"]


def missing(account_id: str, region: str, names: list[str]) -> list[str]:
    from moto.cloudwatch.models import cloudwatch_backends

    alarms = cloudwatch_backends[account_id][region].alarms
    return [name for name in names if name not in alarms]


def _state(backend: Any, name: str) -> str | None:
    alarm = backend.alarms.get(name)
    return None if alarm is None else str(alarm.state_value)


def evaluate(backend: Any, names: Iterable[str] | None = None, now: dt.datetime | None = None) -> None:
    """Evaluate the named alarms (all of the backend's if None) and record each state change."""
    now = now or utcnow()
    chosen = list(backend.alarms.values()) if names is None else [backend.alarms.get(name) for name in names]
    for alarm in chosen:
        if alarm is None:
            continue
        outcome = assess(alarm, backend.metric_data, now)
        if outcome is not None and outcome[0] != alarm.state_value:
            state, reason, data = outcome
            alarm.update_state(reason, json.dumps(data), state)


def assess(alarm: Any, metric_data: list[Any], now: dt.datetime) -> tuple[str, str, dict[str, Any]] | None:
    """(state, reason, reason data) for a metric alarm, or None when there is nothing to decide."""
    comparison = _COMPARISONS.get(alarm.comparison_operator)
    if alarm.rule is not None or alarm.metric_data_queries or comparison is None or not alarm.period:
        return None
    breaches, words = comparison
    periods = int(alarm.evaluation_periods or 1)
    needed = int(alarm.datapoints_to_alarm or periods)
    treat = alarm.treat_missing_data or "missing"
    points = _datapoints(alarm, metric_data, now, periods)
    breaching = sum(1 for value in points if value is not None and breaches(value, alarm.threshold))
    missing_count = sum(1 for value in points if value is None)
    if treat == "breaching":
        breaching += missing_count
    evaluated = len(points) - (missing_count if treat in ("missing", "ignore") else 0)
    shown = [value for value in points if value is not None]
    data = {"version": "1.0", "statistic": _statistic_name(alarm), "period": alarm.period, "recentDatapoints": shown}
    if breaching >= needed:
        reason = (
            f"Threshold Crossed: {breaching} out of the last {periods} datapoints {shown} was {words} the threshold "
            f"({alarm.threshold}) (minimum {needed} datapoint(s) for OK -> ALARM transition)."
        )
        return "ALARM", reason, data
    if evaluated > 0:
        reason = f"Threshold Crossed: {breaching} out of the last {periods} datapoints {shown} breached the threshold."
        return "OK", reason, data
    if treat == "ignore":
        return None
    return "INSUFFICIENT_DATA", "Insufficient Data: no datapoints were received for the evaluation periods.", data


def _datapoints(alarm: Any, metric_data: list[Any], now: dt.datetime, periods: int) -> list[float | None]:
    """The statistic of each of the last `periods` periods, newest first; None for a period without data."""
    wanted = {(dimension.name, dimension.value) for dimension in alarm.dimensions}
    length = dt.timedelta(seconds=int(alarm.period))
    start = now - periods * length
    buckets: list[list[Any]] = [[] for _ in range(periods)]
    for datum in list(metric_data):  # a snapshot: invocations keep adding data
        if datum.namespace != alarm.namespace or datum.name != alarm.metric_name:
            continue
        if alarm.unit and datum.unit and datum.unit != alarm.unit:
            continue
        if {(dimension.name, dimension.value) for dimension in datum.dimensions} != wanted:
            continue
        if not start <= datum.timestamp < now + dt.timedelta(seconds=1):
            continue
        index = min(periods - 1, int((now - datum.timestamp) / length)) if datum.timestamp <= now else 0
        buckets[index].append(datum)
    return [_statistic(alarm, bucket) for bucket in buckets]


def _statistic_name(alarm: Any) -> str:
    return str(alarm.extended_statistic or alarm.statistic or "Average")


def _statistic(alarm: Any, data: list[Any]) -> float | None:
    if not data:
        return None
    singles = [float(datum.value) for datum in data if hasattr(datum, "value")]
    aggregated = [datum for datum in data if not hasattr(datum, "value")]
    count = len(singles) + sum(float(datum.sample_count) for datum in aggregated)
    total = sum(singles) + sum(float(datum.sum) for datum in aggregated)
    name = _statistic_name(alarm)
    if name.startswith("p"):
        return _percentile(singles, float(name[1:])) if singles else None
    if name == "Sum":
        return total
    if name == "SampleCount":
        return count
    if name == "Minimum":
        return min([*singles, *(float(datum.min) for datum in aggregated)])
    if name == "Maximum":
        return max([*singles, *(float(datum.max) for datum in aggregated)])
    return total / count if count else None


def _percentile(values: list[float], percent: float) -> float:
    """Nearest rank, as CloudWatch's percentiles of raw values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def _evaluating_first(method: Any) -> Any:
    def describe_alarms(self: CloudWatchResponse) -> Any:
        evaluate(self.cloudwatch_backend)
        return method(self)

    return describe_alarms


PATCHES = [Patch(CloudWatchResponse, "describe_alarms", _evaluating_first)]
