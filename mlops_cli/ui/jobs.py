"""Watching a job from the terminal: a spinner with the status and elapsed time, and the job's log streamed above."""

from __future__ import annotations

import time
from typing import Any

from rich.live import Live
from rich.spinner import Spinner
from rich.text import Text

from mlops_cli.ui.output import Output


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


class JobWatch:
    """Implements the services' wait observer. Status changes are also printed as lines, so a log file written by
    cron shows them too."""

    def __init__(self, out: Output, *, show_logs: bool = True) -> None:
        self.out = out
        self.show_logs = show_logs and not out.quiet
        self._spinner = Spinner("dots", text="starting…")
        self._live = Live(self._spinner, console=out.stderr, transient=True, refresh_per_second=8)
        self._started = time.monotonic()
        self._last_status: tuple[str, str | None] | None = None

    def __enter__(self) -> JobWatch:
        if not self.out.quiet:
            self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._live.stop()

    def __call__(self, state: Any, lines: list[Any]) -> None:
        if self.show_logs:
            for line in lines:
                host = line.stream.split("/", 1)[-1].rsplit("-", 1)[0]
                self.out.stderr.print(Text(f"[{host}] {line.message.rstrip()}", style="dim"))
        status = (state.status, state.secondary_status)
        if status != self._last_status and not self.out.quiet:
            detail = f" ({state.secondary_status})" if state.secondary_status else ""
            label = "Endpoint" if state.kind == "endpoint" else f"{state.kind.capitalize()} job"
            self.out.stderr.print(f"{label} {state.name}: {state.status}{detail}")
            self._last_status = status
        elapsed = state.elapsed_seconds if state.elapsed_seconds is not None else time.monotonic() - self._started
        self._spinner.update(text=f"{state.name}: {state.status} {_clock(elapsed)}")


class Waiting:
    """A spinner with the elapsed time, for a wait that reports nothing on the way (boto3's waiters)."""

    def __init__(self, out: Output, label: str) -> None:
        self.label = label
        self._spinner = Spinner("dots", text=label)
        self._started = time.monotonic()
        self._live = Live(self, console=out.stderr, transient=True, refresh_per_second=8)
        self._show = not out.quiet

    def __rich__(self) -> Spinner:
        self._spinner.update(text=f"{self.label} {_clock(time.monotonic() - self._started)}")
        return self._spinner

    def __enter__(self) -> Waiting:
        if self._show:
            self._live.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._live.stop()
