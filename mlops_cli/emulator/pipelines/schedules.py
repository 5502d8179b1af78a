"""EventBridge Scheduler schedules that fire while the emulator runs: a daemon thread looks every ~10 s at every
ENABLED schedule whose target is a SageMaker pipeline and starts it when an occurrence is due (each occurrence
once; occurrences missed while the emulator was down are not caught up). Expressions are checked on
CreateSchedule/UpdateSchedule (moto accepts anything)."""

from __future__ import annotations

import functools
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moto.scheduler.exceptions import ValidationException
from moto.scheduler.responses import EventBridgeSchedulerResponse

from mlops_cli.emulator.extensions.patching import Patch
from mlops_cli.emulator.jobs.runtime import announce
from mlops_cli.emulator.pipelines import expressions, targets

TICK_SECONDS = 10.0


def _validated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: EventBridgeSchedulerResponse) -> Any:
        try:
            expressions.parse(self._get_param("ScheduleExpression"))
            expressions.zone(self._get_param("ScheduleExpressionTimezone"))
        except expressions.ExpressionError as exc:
            raise ValidationException(str(exc)) from exc
        return method(self)

    return wrapper


def _moment(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), UTC)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass
class Tracked:
    key: tuple[str, str]  # (expression, time zone): a change starts the count again
    anchor: datetime
    checked: datetime  # occurrences up to here have fired (or were before the emulator saw the schedule)


class Scheduler:
    def __init__(self, tick: float = TICK_SECONDS) -> None:
        self.tick = tick
        self.tracked: dict[str, Tracked] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None

    def forget(self) -> None:
        self.tracked.clear()

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.check(datetime.now(UTC))
            except Exception:
                announce(f"scheduler: the check failed:\n{traceback.format_exc()}")

    def check(self, now: datetime) -> None:
        from moto.scheduler.models import scheduler_backends

        for _account, regions in list(scheduler_backends.items()):
            for backend in list(regions.values()):
                for group in list(backend.schedule_groups.values()):
                    for schedule in list(group.schedules.values()):
                        try:
                            self._consider(schedule, now)
                        except Exception:  # one schedule that cannot be computed must not stop the others
                            announce(f"scheduler: schedule {schedule.name} was skipped:\n{traceback.format_exc()}")

    def _consider(self, schedule: Any, now: datetime) -> None:
        target = schedule.target or {}
        if schedule.state != "ENABLED" or targets.pipeline_of(target.get("Arn", "")) is None:
            return
        try:
            expression = expressions.parse(schedule.schedule_expression)
        except expressions.ExpressionError:
            return
        key = (schedule.schedule_expression, schedule.schedule_expression_timezone or "UTC")
        start, end = _moment(schedule.start_date), _moment(schedule.end_date)
        tracked = self.tracked.get(schedule.arn)
        if tracked is None or tracked.key != key:
            # an at() occurrence counts from the beginning of time: one created for a past minute fires once
            checked = datetime.min.replace(tzinfo=UTC) if isinstance(expression, expressions.At) else now
            tracked = Tracked(key, start or now, checked)
            self.tracked[schedule.arn] = tracked
            if not isinstance(expression, expressions.At):
                return
        due = expressions.next_after(expression, tracked.checked, key[1], tracked.anchor)
        tracked.checked = now
        if due is None or due > now or (start and due < start) or (end and due > end):
            return
        announce(f"schedule {schedule.name} ({schedule.schedule_expression}) is due at {due:%Y-%m-%d %H:%M} UTC")
        targets.start(target["Arn"], targets.parameters_of(target), f"schedule {schedule.name}")


scheduler = Scheduler()

PATCHES: list[Patch] = [
    Patch(EventBridgeSchedulerResponse, "create_schedule", _validated),
    Patch(EventBridgeSchedulerResponse, "update_schedule", _validated),
]
