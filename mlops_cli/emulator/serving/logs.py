"""A variant server's output in CloudWatch Logs, named as SageMaker names it: group
`/aws/sagemaker/Endpoints/<endpoint>`, stream `<variant>/<instance id>`. Lines are shipped in batches from a thread
of their own every FLUSH_INTERVAL seconds, so serving never waits for CloudWatch."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from mlops_cli.emulator.jobs.runtime import announce

FLUSH_INTERVAL = 0.5  # seconds
_MAX_BATCH_EVENTS = 10_000  # PutLogEvents limits
_MAX_BATCH_BYTES = 1_000_000
_EVENT_OVERHEAD = 26
_MAX_MESSAGE = 256 * 1024 - _EVENT_OVERHEAD


class LogStream:
    def __init__(self, client: Any, group: str, stream: str) -> None:
        self._client = client
        self.group = group
        self.stream = stream
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._failed = False
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        """Create the group and stream (before the first line, so a client finds them as soon as the server runs)
        and start shipping. Once: pip may have written to it before the server starts."""
        if self._thread is not None:
            return
        exists = self._client.exceptions.ResourceAlreadyExistsException
        with contextlib.suppress(exists):
            self._client.create_log_group(logGroupName=self.group)
        with contextlib.suppress(exists):
            self._client.create_log_stream(logGroupName=self.group, logStreamName=self.stream)
        self._thread = threading.Thread(target=self._ship_periodically, name=f"logs-{self.stream}", daemon=True)
        self._thread.start()

    def write(self, line: str) -> None:
        if not line.strip():
            return  # CloudWatch refuses empty messages
        event = {"timestamp": int(time.time() * 1000), "message": line[:_MAX_MESSAGE]}
        with self._lock:
            self._pending.append(event)

    def close(self, ship: bool = True) -> None:
        """Ship what is left (unless the emulator is resetting: the group is about to be wiped) and stop."""
        if not ship:
            with self._lock:
                self._pending = []
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _ship_periodically(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            self._ship()
        self._ship()

    def _ship(self) -> None:
        with self._lock:
            events, self._pending = self._pending, []
        for batch in _batches(events):
            try:
                self._client.put_log_events(logGroupName=self.group, logStreamName=self.stream, logEvents=batch)
            except Exception as exc:  # the emulator may be resetting or shutting down; serving must go on
                if not self._failed and not self._closed.is_set():
                    self._failed = True
                    announce(f"could not write to log group {self.group}: {exc}")


def _batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for event in sorted(events, key=lambda item: item["timestamp"]):  # stable: one millisecond keeps its order
        event_size = len(event["message"].encode()) + _EVENT_OVERHEAD
        if batches[-1] and (len(batches[-1]) >= _MAX_BATCH_EVENTS or size + event_size > _MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += event_size
    return [batch for batch in batches if batch]
