"""Filtering, sorting and paging of job summaries for the List* operations, as AWS does them: filters, then the sort,
then the page (moto pages first, filters the page, and ignores SortBy/SortOrder). One documented exception:
ListTrainingJobs picks its page of MaxResults jobs first and applies StatusEquals to that page. Pure."""

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
    summaries: Sequence[Summary], request: Mapping[str, Any], *, name_key: str, status_key: str | None
) -> list[Summary]:
    """The summaries that pass NameContains (ignoring case, as SageMaker does with job names), StatusEquals (unless
    `status_key` is None) and the time filters."""
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
        if status and status_key and summary.get(status_key) != status:
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


def page_of(
    summaries: list[Summary],
    request: Mapping[str, Any],
    *,
    key: str,
    name_key: str,
    status_key: str,
    sort_keys: Mapping[str, str],
    default_sort: str = "CreationTime",
    status_after_page: bool = False,
) -> dict[str, Any]:
    """A List* response: `{key: [summaries of the page], "NextToken": ...}`, fields without a value left out.
    With `status_after_page`, StatusEquals filters the page rather than the list. Raises ValueError for a bad token."""
    chosen = filter_summaries(
        summaries, request, name_key=name_key, status_key=None if status_after_page else status_key
    )
    ordered = sort_summaries(chosen, request.get("SortBy"), request.get("SortOrder"), sort_keys, default_sort)
    page, token = paginate(ordered, request)
    if status_after_page and request.get("StatusEquals"):
        page = [summary for summary in page if summary.get(status_key) == request["StatusEquals"]]
    page = [{name: value for name, value in summary.items() if value is not None} for summary in page]
    return {key: page, "NextToken": token}
