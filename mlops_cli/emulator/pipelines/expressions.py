"""EventBridge Scheduler expressions: `rate(n unit)`, `cron(min hour day-of-month month day-of-week year)` in a time
zone, and `at(yyyy-mm-ddThh:mm:ss)`; checked, and the next occurrence after a time, at minute resolution."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# re.ASCII and [0-9]: AWS takes ASCII digits only, where \d and str.isdigit() would also take '٣' or '³'
_RATE = re.compile(r"rate\(([0-9]+)\s+(minute|minutes|hour|hours|day|days)\)", re.ASCII)
_CRON = re.compile(r"cron\((.*)\)", re.ASCII)
_AT = re.compile(r"at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)", re.ASCII)
_MONTHS = {
    name: n
    for n, name in enumerate(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)
}
_DAYS = {name: n for n, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"], 1)}
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}
_FieldSpec = tuple[str, int, int, dict[str, int]]
_FIELDS: tuple[_FieldSpec, ...] = (
    ("minutes", 0, 59, {}),
    ("hours", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
)
_FIELDS_TAIL: tuple[_FieldSpec, ...] = (("day-of-week", 1, 7, _DAYS), ("year", 1970, 2199, {}))


class ExpressionError(ValueError):
    pass


@dataclass(frozen=True)
class Rate:
    minutes: int


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None for "?"
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 = Sunday
    years: frozenset[int]

    def matches_day(self, day: datetime) -> bool:
        if day.month not in self.months or day.year not in self.years:
            return False
        if self.days is not None and day.day not in self.days:
            return False
        return self.weekdays is None or (day.isoweekday() % 7) + 1 in self.weekdays


@dataclass(frozen=True)
class At:
    when: datetime  # naive, in the schedule's time zone


Expression = Rate | Cron | At


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: 'America' is a directory
        raise ExpressionError(f"unknown ScheduleExpressionTimezone {name!r}") from exc


def parse(text: str) -> Expression:
    text = (text or "").strip()
    if not text.isascii():
        raise ExpressionError(f"invalid ScheduleExpression {text!r}: only ASCII characters are allowed")
    if match := _RATE.fullmatch(text):
        value, unit = int(match.group(1)), match.group(2).rstrip("s")
        if value < 1:
            raise ExpressionError(f"{text}: the rate must be a positive number")
        if (value == 1) != (match.group(2) == unit):
            raise ExpressionError(f"{text}: use '{unit}' for 1 and '{unit}s' for more")
        return Rate(value * _UNIT_MINUTES[unit])
    if match := _AT.fullmatch(text):
        try:
            return At(datetime.fromisoformat(match.group(1)))
        except ValueError as exc:
            raise ExpressionError(f"{text}: {exc}") from exc
    if match := _CRON.fullmatch(text):
        return _cron(text, match.group(1).split())
    raise ExpressionError(
        f"invalid ScheduleExpression {text!r}: expected rate(<n> minute(s)|hour(s)|day(s)), "
        "cron(<minutes> <hours> <day-of-month> <month> <day-of-week> <year>) or at(yyyy-mm-ddThh:mm:ss)"
    )


def _cron(text: str, fields: list[str]) -> Cron:
    if len(fields) != 6:
        raise ExpressionError(f"{text}: a cron expression has 6 fields, not {len(fields)}")
    values = [_field(text, field, *spec) for field, spec in zip(fields, (*_FIELDS, *_FIELDS_TAIL), strict=True)]
    days, weekdays = values[2], values[4]
    if (days is None) == (weekdays is None):
        raise ExpressionError(f"{text}: exactly one of day-of-month and day-of-week must be '?'")
    for index in (0, 1, 3, 5):
        if values[index] is None:
            raise ExpressionError(f"{text}: '?' is only allowed in day-of-month or day-of-week")
    minutes, hours, months, years = (frozenset(values[i] or ()) for i in (0, 1, 3, 5))
    return Cron(minutes, hours, days, months, weekdays, years)


def _field(text: str, field: str, name: str, low: int, high: int, names: dict[str, int]) -> frozenset[int] | None:
    if field == "?":
        if name not in ("day-of-month", "day-of-week"):
            raise ExpressionError(f"{text}: '?' is only allowed in day-of-month or day-of-week")
        return None
    chosen: set[int] = set()
    for part in field.split(","):
        base, _, step_text = part.partition("/")
        step = _number(text, name, step_text, {}) if step_text else 1
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first, last = _number(text, name, first_text, names), _number(text, name, last_text, names)
        else:
            first = _number(text, name, base, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or step < 1 or first > last:
            raise ExpressionError(f"{text}: {name} value {part!r} is out of range {low}-{high}")
        chosen.update(range(first, last + 1, step))
    return frozenset(chosen)


def _number(text: str, name: str, value: str, names: dict[str, int]) -> int:
    if value.upper() in names:
        return names[value.upper()]
    if not (value.isascii() and value.isdigit()):
        raise ExpressionError(
            f"{text}: {name} value {value!r} is not supported (use numbers, names, '*', '-', ',', '/')"
        )
    return int(value)


def next_after(expression: Expression, after: datetime, timezone: str | None, anchor: datetime) -> datetime | None:
    """The first occurrence strictly after `after` (aware), as an aware UTC time; None if there is none within
    about five years. A rate counts from `anchor` (the schedule's start)."""
    if isinstance(expression, Rate):
        if after < anchor:
            return anchor
        try:
            step = timedelta(minutes=expression.minutes)
            return anchor + ((after - anchor) // step + 1) * step
        except OverflowError:  # rate(999999999 days): the next time is past datetime's range, so never
            return None
    tz = zone(timezone)
    if isinstance(expression, At):
        when = expression.when.replace(tzinfo=tz).astimezone(UTC)
        return when if when > after else None
    local = (after.astimezone(tz) + timedelta(minutes=1)).replace(second=0, microsecond=0)
    day = local.replace(hour=0, minute=0)
    for _ in range(366 * 5):
        if expression.matches_day(day):
            for hour in sorted(expression.hours):
                for minute in sorted(expression.minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= local:
                        return candidate.astimezone(UTC)
        day = (day + timedelta(days=1)).replace(hour=0, minute=0)
    return None
