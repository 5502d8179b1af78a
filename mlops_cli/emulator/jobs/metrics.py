"""Training metrics from the job's log lines, with the job's own MetricDefinitions, as SageMaker reads them: each
definition's regex is searched in every stdout and stderr line, its first group is the value, and the last value
seen is the one FinalMetricDataList reports."""

from __future__ import annotations

import datetime as dt
import math
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MetricValue:
    name: str
    value: float
    timestamp: dt.datetime

    def as_metric_data(self) -> dict[str, Any]:
        return {"MetricName": self.name, "Value": self.value, "Timestamp": self.timestamp}


def compile_definitions(definitions: Iterable[Mapping[str, str]] | None) -> list[tuple[str, re.Pattern[str]]]:
    """(name, regex) pairs; a regex that does not compile, or has no group to capture the value, never matches."""
    compiled = []
    for definition in definitions or []:
        try:
            pattern = re.compile(definition["Regex"])
        except (re.error, KeyError):
            continue
        if pattern.groups >= 1:
            compiled.append((definition["Name"], pattern))
    return compiled


def parse_value(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None  # NaN and infinity cannot be reported


class MetricCollector:
    """Fed every log line of every host while the job runs (from several reader threads)."""

    def __init__(self, definitions: Iterable[Mapping[str, str]] | None) -> None:
        self._definitions = compile_definitions(definitions)
        self._last: dict[str, MetricValue] = {}
        self._lock = threading.Lock()

    def feed(self, line: str, timestamp: dt.datetime) -> None:
        for name, pattern in self._definitions:
            match = pattern.search(line)
            if match is None or match.group(1) is None:
                continue
            value = parse_value(match.group(1))
            if value is not None:
                with self._lock:
                    self._last[name] = MetricValue(name, value, timestamp)

    def final(self) -> list[MetricValue]:
        """The last value of each metric that was seen at least once, in the order of the definitions."""
        names = dict.fromkeys(name for name, _ in self._definitions)  # in order, each once
        with self._lock:
            return [self._last[name] for name in names if name in self._last]


def final_metric(final_metric_data: Iterable[Mapping[str, Any]] | None, name: str) -> float | None:
    """The value of metric `name` in a FinalMetricDataList, if it has one."""
    for metric in final_metric_data or []:
        if metric.get("MetricName") == name:
            return float(metric["Value"])
    return None
