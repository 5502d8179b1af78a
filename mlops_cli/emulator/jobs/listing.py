"""Filtering, sorting and paging of job summaries for the List* operations, as AWS does them: filters first, then
the sort, then the page (moto pages first and filters the page, and ignores SortBy/SortOrder). Pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

DEFAULT_MAX_RESULTS = 10  # SageMaker's default page size for List* operations

Summary = dict[str, Any]


def _naive_utc(value: Any) -> Any:
    # moto keeps naive UTC datetimes; request timestamps arrive timezone-aware.
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def filter_summaries(
    summaries: Sequence[Summary], request: Mapping[str, Any], *, name_key: str, status_key: str
) -> list[Summary]:
    """The summaries that pass NameContains (ignoring case, as SageMaker does with job names), StatusEquals and the
    time filters."""
    name_contains = (request.get("NameContains") or "").lower()
    status = request.get("StatusEquals")
    bounds: list[tuple[str, Callable[[Any, Any], bool], Any]] = [
        ("CreationTime", lambda t, b: t > b, request.get("CreationTimeAfter")),
        ("CreationTime", lambda t, b: t < b, request.get("CreationTimeBefore")),
        ("LastModifiedTime", lambda t, b: t > b, request.get("LastModifiedTimeAfter")),
        ("LastModifiedTime", lambda t, b: t < b, request.get("LastModifiedTimeBefore")),
    ]
    chosen = []
    for summary in summaries:
        if name_contains not in summary[name_key].lower():
            continue
        if status and summary.get(status_key) != status:
            continue
        if any(bound is not None and not test(summary[key], _naive_utc(bound)) for key, test, bound in bounds):
            continue
        chosen.append(summary)
    return chosen


def sort_summaries(
    summaries: list[Summary], sort_by: str | None, sort_order: str | None, keys: Mapping[str, str], default: str
) -> list[Summary]:
    """Sorted by the summary field `keys[sort_by]`. Summaries without that field (a trial with no objective value)
    come last in either order."""
    field = keys.get(sort_by or default, keys[default])
    present = [summary for summary in summaries if _sort_value(summary, field) is not None]
    missing = [summary for summary in summaries if _sort_value(summary, field) is None]
    present.sort(key=lambda summary: _sort_value(summary, field), reverse=sort_order == "Descending")
    return present + missing


def _sort_value(summary: Summary, field: str) -> Any:
    value: Any = summary
    for part in field.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def paginate(items: list[Summary], request: Mapping[str, Any]) -> tuple[list[Summary], str | None]:
    """One page from NextToken (an offset) of MaxResults items, and the token of the next page."""
    size = int(request.get("MaxResults") or DEFAULT_MAX_RESULTS)
    token = request.get("NextToken")
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValueError(f"the NextToken {token!r} is not valid") from None
    end = start + size
    return items[start:end], str(end) if end < len(items) else None
