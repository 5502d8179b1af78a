"""Small helpers to build rich tables consistently."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

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
    "healthy": "green",
    "unhealthy": "red",
    "initial": "yellow",
    "draining": "yellow",
}


def styled(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, ""))


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """Cells are plain text (values such as `[[1, 2]]` are not rich markup); a Text cell keeps its style. Without
    column names it is a key/value table and has no header row."""
    result = Table(title=title, title_justify="left", header_style="bold", show_header=any(columns))
    for column in columns:
        result.add_column(column, overflow="fold")
    for row in rows:
        result.add_row(*(cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row))
    return result


def human_bytes(size: float) -> str:
    """Decimal units, as the progress bars show them."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
