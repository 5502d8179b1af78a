"""A job's output in CloudWatch Logs while it runs, named as SageMaker names it: group
`/aws/sagemaker/ProcessingJobs` or `/aws/sagemaker/TrainingJobs`, one stream per host
`<job-name>/algo-<n>-<epoch seconds>`, flushed every FLUSH_INTERVAL seconds so a client can follow it."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from mlops_cli.emulator.jobs.runtime import announce

PROCESSING_GROUP = "/aws/sagemaker/ProcessingJobs"
TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"
FLUSH_INTERVAL = 0.5  # seconds
_MAX_BATCH_EVENTS = 10_000  # PutLogEvents limits
_MAX_BATCH_BYTES = 1_048_576
_EVENT_OVERHEAD = 26


def stream_name(job_name: str, host: str, started: float) -> str:
    return f"{job_name}/{host}-{int(started)}"


class JobLog:
    """Collects lines from the reader threads and ships them in batches from a thread of its own."""

    def __init__(self, client: Any, group: str, job_name: str, hosts: list[str], started: float) -> None:
        self._client = client
        self.group = group
        self.streams = {host: stream_name(job_name, host, started) for host in hosts}
        self._pending: dict[str, list[dict[str, Any]]] = {host: [] for host in hosts}
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._failed = False
        self._ship_at_close = True
        self._create_streams()  # before the first line, so a client can find them as soon as the job runs
        self._thread = threading.Thread(target=self._ship_periodically, name=f"logs-{job_name}", daemon=True)
        self._thread.start()

    def _create_streams(self) -> None:
        exists = self._client.exceptions.ResourceAlreadyExistsException
        with contextlib.suppress(exists):
            self._client.create_log_group(logGroupName=self.group)
        for stream in self.streams.values():
            with contextlib.suppress(exists):
                self._client.create_log_stream(logGroupName=self.group, logStreamName=stream)

    def write(self, host: str, line: str) -> None:
        if not line:
            return  # CloudWatch refuses empty messages
        event = {"timestamp": int(time.time() * 1000), "message": line}
        with self._lock:
            self._pending[host].append(event)

    def close(self, ship: bool = True) -> None:
        """Ship what is left (unless `ship` is False: the emulator is resetting and the group is gone) and stop."""
        self._ship_at_close = ship
        self._closed.set()
        self._thread.join()

    def _ship_periodically(self) -> None:
        while not self._closed.wait(FLUSH_INTERVAL):
            self._ship()
        if self._ship_at_close:
            self._ship()

    def _ship(self) -> None:
        with self._lock:
            batches = {host: events for host, events in self._pending.items() if events}
            for host in batches:
                self._pending[host] = []
        for host, events in batches.items():
            for batch in _batches(events):
                try:
                    self._client.put_log_events(
                        logGroupName=self.group, logStreamName=self.streams[host], logEvents=batch
                    )
                except Exception as exc:  # the emulator may be resetting; the job itself must go on
                    if not self._failed:
                        self._failed = True
                        announce(f"could not write to log group {self.group}: {exc}")


def _batches(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Events in time order, cut into batches PutLogEvents accepts."""
    ordered = sorted(events, key=lambda event: event["timestamp"])  # stable: lines of one millisecond keep order
    batches: list[list[dict[str, Any]]] = [[]]
    size = 0
    for event in ordered:
        event_size = len(event["message"].encode()) + _EVENT_OVERHEAD
        if batches[-1] and (len(batches[-1]) >= _MAX_BATCH_EVENTS or size + event_size > _MAX_BATCH_BYTES):
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += event_size
    return [batch for batch in batches if batch]
