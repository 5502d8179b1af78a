"""The two streams: results on stdout (rich tables for people, JSON for scripts); everything else on stderr."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType


def _console(stream: Any) -> Console:
    # Pipes get no colour and a wide layout, so scripts can grep whole lines.
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(file=stream, width=width, highlight=False, soft_wrap=True)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, pydantic models, enums, paths and datetimes as plain JSON values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if hasattr(value, "model_dump"):
        return to_jsonable(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


class Output:
    """What a command writes. Built once per invocation from the global options."""

    def __init__(self, *, json_mode: bool = False, quiet: bool = False, verbose: bool = False) -> None:
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose
        self.stdout = _console(sys.stdout)
        self.stderr = _console(sys.stderr)

    def result(self, data: Any, human: Callable[[], RenderableType | str] | None = None) -> None:
        """The command's result: JSON of `data` with --json, else what `human()` renders."""
        if self.json_mode:
            sys.stdout.write(json.dumps(to_jsonable(data), indent=2, sort_keys=False) + "\n")
            sys.stdout.flush()
        elif human is not None:
            self.stdout.print(human())
        else:
            self.stdout.print_json(json.dumps(to_jsonable(data)))

    def info(self, message: str) -> None:
        if not self.quiet:
            self.stderr.print(message)

    def debug(self, message: str) -> None:
        if self.verbose:
            self.stderr.print(f"[dim]{message}[/dim]")

    def warn(self, message: str) -> None:
        self.stderr.print(f"[yellow]warning:[/yellow] {message}")

    def error(self, message: str) -> None:
        self.stderr.print(f"[red]error:[/red] {message}", markup=True, highlight=False)

    @property
    def interactive(self) -> bool:
        return sys.stdin.isatty() and sys.stderr.isatty()
