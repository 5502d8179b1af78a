"""Small helpers to build rich tables consistently."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.table import Table

STATE_STYLES = {
    "created": "green",
    "updated": "yellow",
    "unchanged": "dim",
    "ok": "green",
    "drift": "red",
    "missing": "red",
    "deleted": "yellow",
    "absent": "dim",
    "skipped": "dim",
    "uploaded": "green",
}


def styled(state: str) -> str:
    style = STATE_STYLES.get(state)
    return f"[{style}]{state}[/{style}]" if style else state


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*("" if cell is None else str(cell) for cell in row))
    return result


def human_bytes(size: float) -> str:
    """Decimal units, as the progress bars show them."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
