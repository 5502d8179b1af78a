"""How `mlops init` shows the project it wrote."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType

from mlops_cli.ui.tables import table


def init_view(result: Any) -> RenderableType:
    rows = []
    for column in result.columns:
        role = "key" if column.name == result.key else "target" if column.name == result.target else ""
        detail = ", ".join(column.values) if column.values else ("min 0" if column.min == 0 else "")
        rows.append((column.name, column.type, role, "yes" if column.nullable else "no", detail))
    read = f"all {result.rows_read:,} rows" if result.whole_file_read else f"the first {result.rows_read:,} rows"
    schema = table(
        f"Schema of dataset {result.dataset} (from {read})", ["column", "type", "role", "nullable", "values"], rows
    )
    task = f"task: {result.task}" + (f" ({', '.join(result.classes)})" if result.classes else "")
    files = "\n".join(f"  {name}" for name in result.files)
    return Group(
        schema,
        f"{task}; objective {result.objective}: approved on the emulator when it is "
        f"{'≥' if result.goal == 'maximize' else '≤'} {result.min_metric:g}",
        f"Wrote project [bold]{result.project}[/bold] in {result.directory}:\n{files}",
        f"Next: [bold]{result.next_command}[/bold]",
    )
