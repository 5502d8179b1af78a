"""A job's workers: one subprocess per host, run in parallel, every output line handed on as it is written."""

from __future__ import annotations

import enum
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from mlops_cli.emulator.jobs import process_tree

STDERR_TAIL_LINES = 20  # kept per worker, for a failure reason when the script leaves no message of its own
_MAX_LINE = 256 * 1024  # a longer line is handed on in pieces (CloudWatch's limit for one event is 256 KB)

LineSink = Callable[[str, str, str], None]  # (host, "stdout" | "stderr", line)


@dataclass(frozen=True)
class WorkerSpec:
    host: str
    command: list[str]
    cwd: Path
    env: dict[str, str]


class Outcome(enum.Enum):
    COMPLETED = "completed"  # every worker exited 0
    FAILED = "failed"  # a worker exited non-zero
    STOPPED = "stopped"  # a stop was requested
    TIMED_OUT = "timed_out"  # the deadline passed


class Worker:
    def __init__(self, spec: WorkerSpec, on_line: LineSink) -> None:
        self.spec = spec
        self._on_line = on_line
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        # Not in a session of its own: it stays in the server's process group, which `mlops local down` ends.
        self.process = subprocess.Popen(
            spec.command,
            cwd=spec.cwd,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(stream, name), name=f"{spec.host}-{name}", daemon=True)
            for stream, name in ((self.process.stdout, "stdout"), (self.process.stderr, "stderr"))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, stream: IO[bytes] | None, name: str) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(lambda: stream.readline(_MAX_LINE), b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if name == "stderr":
                    self.stderr_tail.append(line)
                self._on_line(self.spec.host, name, line)

    @property
    def exit_code(self) -> int | None:
        return self.process.poll()

    def drain(self, timeout: float) -> None:
        """Wait until every line written before the exit has been handed on. A process the worker left running
        may hold the pipes open, so this waits at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


class WorkerGroup:
    """Start with `start()`, then `wait()`; `terminate()` and `kill()` may be called from any thread."""

    def __init__(self, specs: list[WorkerSpec], on_line: LineSink) -> None:
        self.specs = specs
        self._on_line = on_line
        self.workers: list[Worker] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Start every worker. Raises OSError (after stopping the ones started) if one cannot be started, and does
        nothing once `kill()` has been called (the job was abandoned while it was being set up)."""
        for spec in self.specs:
            with self._lock:
                if self._closed:
                    return
                try:
                    self.workers.append(Worker(spec, self._on_line))
                except OSError:
                    self._closed = True
                    for worker in self.workers:
                        process_tree.kill(worker.process)
                    raise

    def wait(self, deadline: float | None, stop: threading.Event) -> Outcome:
        """Until every worker has exited, one has failed, `stop` is set, or `deadline` (time.monotonic()) passes."""
        while True:
            codes = [worker.exit_code for worker in self.workers]
            if any(code not in (None, 0) for code in codes):
                return Outcome.FAILED
            if all(code == 0 for code in codes):
                return Outcome.COMPLETED
            if stop.is_set():
                return Outcome.STOPPED
            if deadline is not None and time.monotonic() >= deadline:
                return Outcome.TIMED_OUT
            stop.wait(0.05)

    def terminate(self, grace: float) -> None:
        """SIGTERM every worker still running (with what it started), SIGKILL after `grace` seconds; in parallel,
        so the grace is not paid once per host."""
        with self._lock:
            self._closed = True
            workers = list(self.workers)
        threads = [
            threading.Thread(target=process_tree.terminate, args=(worker.process, grace), daemon=True)
            for worker in workers
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def kill(self) -> None:
        self.terminate(grace=0)

    def drain(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        for worker in self.workers:
            worker.drain(max(0.0, deadline - time.monotonic()))

    def first_failure(self) -> Worker | None:
        """The worker that failed, preferring the lowest host (algo-1 before algo-2)."""
        return next((worker for worker in self.workers if worker.exit_code not in (None, 0)), None)
