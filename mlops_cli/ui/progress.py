"""Progress on stderr: a transfer bar (bytes and files) and a spinner with elapsed time for waits."""

from __future__ import annotations

import threading
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from mlops_cli.ui.output import Output


class TransferProgress:
    """Implements the services' upload-progress protocol with a rich bar. Thread-safe: the transfer manager
    reports bytes from its worker threads."""

    def __init__(self, out: Output, label: str = "Uploading") -> None:
        self.out = out
        self.label = label
        self._lock = threading.Lock()
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[files]}"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=out.stderr,
            disable=out.quiet,
            transient=False,
        )
        self._task: Any = None
        self._files_total = 0
        self._files_done = 0

    def __enter__(self) -> TransferProgress:
        self._progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._progress.stop()

    def _files(self) -> str:
        return f"{self._files_done}/{self._files_total} files"

    def start(self, total_bytes: int, total_files: int) -> None:
        self._files_total = total_files
        if total_files:  # nothing to send: no bar at all
            self._task = self._progress.add_task(self.label, total=total_bytes, files=self._files())

    def advance(self, sent_bytes: int) -> None:
        with self._lock:
            self._progress.update(self._task, advance=sent_bytes)

    def file_done(self, item: Any) -> None:
        with self._lock:
            self._files_done += 1
            self._progress.update(self._task, files=self._files())


class OutageNotice:
    """Tells, on stderr, that a wait keeps polling through an outage: "AWS unreachable, retrying (12 s)".
    The reason is shown when the outage starts, and at every retry with -v."""

    def __init__(self, out: Output) -> None:
        self.out = out

    def __call__(self, seconds_down: float, error: Any) -> None:
        if seconds_down == 0 or self.out.verbose:
            self.out.warn(f"{getattr(error, 'message', error)}".replace("[", r"\["))
        self.out.warn(f"AWS unreachable, retrying ({seconds_down:.0f} s)")
