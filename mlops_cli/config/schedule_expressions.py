"""EventBridge Scheduler's expressions, `rate(...)` and `cron(...)`, and IANA time zones: parsed and checked before
any call, so a schedule AWS would refuse is a config error, and `schedule status` can compute the next runs."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")  # EventBridge numbers them 1 (SUN) to 7 (SAT)
# (field name, lowest, highest, names numbered from `lowest`)
CRON_FIELDS: tuple[tuple[str, int, int, tuple[str, ...]], ...] = (
    ("minutes", 0, 59, ()),
    ("hours", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 1, 7, _WEEKDAYS),
    ("year", 1970, 2199, ()),
)
_RATE = re.compile(r"rate\(([0-9]+) (minute|minutes|hour|hours|day|days)\)")
_CRON = re.compile(r"cron\((.*)\)")
_NUMBER = re.compile(r"[0-9]+")  # ASCII digits only: str.isdigit() also takes '٣' and '³', which AWS refuses
_UNIT_MINUTES = {"minute": 1, "hour": 60, "day": 1440}
RATE_MAX_MINUTES = 365 * 1440


@dataclass(frozen=True)
class CronExpression:
    """A parsed `cron(...)`: the allowed values of each field, or None for a field that uses `L`, `W` or `#` (valid,
    but its next run times are not computed locally)."""

    fields: tuple[frozenset[int] | None, ...]
    day_of_month_any: bool  # `?` in day-of-month: the day-of-week field decides
    text: str


def _cron_value(token: str, low: int, names: tuple[str, ...], field: str) -> int:
    if token.upper() in names:
        return low + names.index(token.upper())
    if not _NUMBER.fullmatch(token):
        raise ValueError(
            f"cron {field} field: '{token}' is not a number" + (f" or one of {','.join(names)}" if names else "")
        )
    return int(token)


def _cron_field(text: str, index: int) -> frozenset[int] | None:
    field, low, high, names = CRON_FIELDS[index]
    if text == "?":
        if field not in ("day-of-month", "day-of-week"):
            raise ValueError(f"cron {field} field: '?' is allowed only in day-of-month and day-of-week")
        return frozenset(range(low, high + 1))
    if field == "day-of-month" and re.fullmatch(r"L|LW|[0-9]{1,2}W|L-[0-9]{1,2}", text):
        return None
    if field == "day-of-week" and re.fullmatch(r"([0-9]|[A-Za-z]{3})(L|#[1-5])|L", text):
        return None
    values: set[int] = set()
    for part in text.split(","):
        body, slash, step_text = part.partition("/")
        if slash and (not _NUMBER.fullmatch(step_text) or int(step_text) == 0):
            raise ValueError(f"cron {field} field: '/{step_text}' needs a positive whole step")
        step = int(step_text or 1)
        if body == "*":
            first, last = low, high
        elif "-" in body:
            start, _, end = body.partition("-")
            first, last = _cron_value(start, low, names, field), _cron_value(end, low, names, field)
        else:
            first = _cron_value(body, low, names, field)
            last = high if step_text else first
        for value in (first, last):
            if not low <= value <= high:
                raise ValueError(f"cron {field} field: {value} is outside {low}-{high}")
        if first > last:
            raise ValueError(f"cron {field} field: the range {body} runs backwards")
        values.update(range(first, last + 1, step))
    return frozenset(values)


def parse_cron(expression: str) -> CronExpression:
    """Parse `cron(min hour day-of-month month day-of-week year)`; ValueError names the rule it breaks."""
    if not expression.isascii():
        raise ValueError(f"{expression!r}: a schedule expression is ASCII only (digits 0-9, names, * , - / ? L W #)")
    match = _CRON.fullmatch(expression)
    if not match:
        raise ValueError(f"'{expression}' is not cron(...)")
    parts = match.group(1).split()
    if len(parts) != 6:
        raise ValueError(
            f"'{expression}' has {len(parts)} fields; EventBridge cron has 6: "
            "minutes hours day-of-month month day-of-week year, like cron(0 3 * * ? *)"
        )
    if (parts[2] == "?") == (parts[4] == "?"):
        raise ValueError(
            f"'{expression}': exactly one of day-of-month and day-of-week must be '?' (the other decides the days)"
        )
    fields = tuple(_cron_field(text, index) for index, text in enumerate(parts))
    return CronExpression(fields=fields, day_of_month_any=parts[2] == "?", text=expression)


def rate_minutes(expression: str) -> int:
    """The period of `rate(n unit)` in minutes; ValueError names the rule it breaks."""
    match = _RATE.fullmatch(expression) if expression.isascii() else None
    if not match:
        raise ValueError(f"'{expression}' is not rate(<n> minute|minutes|hour|hours|day|days), n in digits 0-9")
    value, unit = int(match.group(1)), match.group(2)
    if value < 1:
        raise ValueError(
            f"'{expression}': the rate must be a whole number of at least 1 (EventBridge Scheduler's rule)"
        )
    if (value == 1) != (not unit.endswith("s")):
        raise ValueError(
            f"'{expression}': use the singular unit for 1 and the plural otherwise (rate(1 day), rate(2 days))"
        )
    minutes = value * _UNIT_MINUTES[unit.rstrip("s")]
    if minutes > RATE_MAX_MINUTES:
        raise ValueError(
            f"'{expression}': a rate is at most 365 days (525600 minutes, 8760 hours); for rarer runs use a cron "
            "expression such as cron(0 3 1 1 ? *)"
        )
    return minutes


@functools.cache
def _time_zone_names() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: str) -> bool:
    """An IANA zone name. ZoneInfo alone is not enough: 'America' is a directory of the zone database
    (IsADirectoryError), and absolute or relative paths are refused only by some versions."""
    import zoneinfo

    if name != "UTC" and _time_zone_names() and name not in _time_zone_names():
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def schedule_expression(value: str) -> str:
    """The expression, stripped, if EventBridge Scheduler would take it; ValueError names the rule it breaks."""
    value = value.strip()
    if value.startswith("rate("):
        rate_minutes(value)
    elif value.startswith("cron("):
        parse_cron(value)
    else:
        raise ValueError(f"'{value}' is neither rate(...) nor cron(...) (EventBridge Scheduler expressions)")
    return value
