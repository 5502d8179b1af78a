"""What every job run shares: a background thread, stop and abandon, the workers' environment, and the rule for
changing moto's job objects while request threads describe them."""

from __future__ import annotations

import abc
import os
import re
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any, ClassVar

from moto.core.utils import utcnow

from mlops_cli.emulator import python_envs
from mlops_cli.emulator.jobs.errors import JobFailure
from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.jobs.workers import LineSink, Outcome, WorkerGroup, WorkerSpec

# From the server's environment, only what a program needs to start; never credentials or the user's AWS settings.
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME", "SYSTEMROOT")
_PYTHON = re.compile(r"^python(\d+(\.\d+)?)?$")


def now() -> Any:
    return utcnow()  # moto's clock: naive UTC datetimes, like every other time in its objects


def prepare(job: Any, **fields: Any) -> None:
    """Give a new job object every field the runner will change, before any request can see the job."""
    for key, value in fields.items():
        setattr(job, key, value)


def update(job: Any, **fields: Any) -> None:
    """Change fields the job object already has. Describe serialises the object's __dict__ in request threads, and
    a key added meanwhile would break that iteration; replacing the value of an existing key is safe."""
    for key, value in fields.items():
        if key not in vars(job):
            raise AttributeError(f"{type(job).__name__} has no field {key!r}; prepare() it when the job is created")
        setattr(job, key, value)


# An isolated container has no network: its AWS calls go to a loopback port nothing listens on (the discard port),
# with no credentials, and fail as they would on SageMaker (EndpointConnectionError).
ISOLATED_ENDPOINT = "http://127.0.0.1:9"


def container_environment(
    region: str, request_environment: dict[str, str], *, isolated: bool = False
) -> dict[str, str]:
    """A worker's environment: the basics from the server, the region, the emulator as the AWS endpoint (a script
    that calls AWS reaches the emulator, never a real account), then the request's Environment. `isolated` (the
    job's network isolation): no reachable endpoint and no credentials at all, not even the user's files, and a pip
    that cannot download anything."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    env.update(PYTHONUNBUFFERED="1", AWS_REGION=region, AWS_DEFAULT_REGION=region)
    if isolated:
        env.update(
            AWS_ENDPOINT_URL=ISOLATED_ENDPOINT,
            AWS_CONFIG_FILE=os.devnull,
            AWS_SHARED_CREDENTIALS_FILE=os.devnull,
            AWS_EC2_METADATA_DISABLED="true",
        )
        env.update(python_envs.isolated_pip_variables())
    else:
        env.update(
            AWS_ENDPOINT_URL=runtime.settings.endpoint_url,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
    env.update(request_environment)
    return env


def with_python(command: list[str]) -> list[str]:
    """`python3 x.py` runs with the server's interpreter (the one with scikit-learn and pandas installed)."""
    if command and _PYTHON.match(os.path.basename(command[0])):
        return [sys.executable, *command[1:]]
    return command


class Abandoned(Exception):
    """The emulator is resetting: the run ends at once, quietly, changing nothing."""


class JobRun(abc.ABC):
    """One job, run by a daemon thread so the server never waits for it."""

    kind: ClassVar[str]

    def __init__(self, name: str, job: Any) -> None:
        self.name = name
        self.job = job
        self.settings = runtime.settings
        self.stop_requested = threading.Event()
        self.abandoned = False
        # Held while the job's status changes: a Stop request and the runner's end must not interleave.
        self.state_lock = threading.RLock()
        self.finished = False
        self._group: WorkerGroup | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._main, name=f"{self.kind}:{name}", daemon=True)

    def start(self) -> None:
        runtime.register(self)
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def stop(self) -> bool:
        """A Stop request: the job is Stopping at once, and Stopped once its workers have ended. False if the
        job had ended already."""
        with self.state_lock:
            if self.finished:
                return False
            self.mark_stopping()
            self.stop_requested.set()
            return True

    def finish(self) -> None:
        """Called by a subclass's end, holding `state_lock`, before it sets the final status."""
        self.check()
        self.finished = True

    @abc.abstractmethod
    def mark_stopping(self) -> None:
        """Set the job's status to Stopping."""

    def abandon(self) -> None:
        with self._lock:
            self.abandoned = True
            group = self._group
        self.stop_requested.set()
        if group is not None:
            group.kill()

    def check(self) -> None:
        if self.abandoned:
            raise Abandoned

    @abc.abstractmethod
    def run(self) -> None: ...

    @abc.abstractmethod
    def fail(self, reason: str) -> None:
        """End the job Failed with `reason` (for a JobFailure or an error of the runner itself)."""

    def _main(self) -> None:
        try:
            try:
                self.run()
            except JobFailure as failure:
                self.fail(failure.reason)
            except Abandoned:
                raise
            except Exception as exc:
                self.check()
                announce(f"{self.kind} {self.name}: the runner failed:\n{traceback.format_exc()}")
                self.fail(f"InternalServerError: the emulator could not run the job: {exc}")
        except Abandoned:
            announce(f"{self.kind} {self.name} abandoned (the emulator was reset)")
        except Exception:  # failing the job failed too: say so in the server's log, never kill the server
            announce(f"{self.kind} {self.name}: the runner failed:\n{traceback.format_exc()}")
        finally:
            runtime.unregister(self)

    def run_workers(
        self,
        specs: list[WorkerSpec],
        on_line: LineSink,
        deadline: float | None,
        on_stopping: Callable[[Outcome], None] = lambda _outcome: None,
    ) -> tuple[WorkerGroup, Outcome]:
        """Run the workers to their end, a failure, a stop or the deadline; workers left running are stopped
        the way SageMaker stops them (`on_stopping` is called first), and all their output is handed on before
        this returns."""
        group = WorkerGroup(specs, on_line)
        with self._lock:
            self.check()
            self._group = group
        try:
            group.start()
        except OSError as exc:
            raise JobFailure(f"AlgorithmError: could not start {specs[0].command[0]!r}: {exc}") from exc
        self.check()
        outcome = group.wait(deadline, self.stop_requested)
        if outcome is not Outcome.COMPLETED:
            on_stopping(outcome)
            group.terminate(self.settings.stop_grace)
        group.drain()
        self.check()
        return group, outcome

    def deadline(self, stopping_condition: dict[str, Any] | None, started: float) -> float | None:
        seconds = (stopping_condition or {}).get("MaxRuntimeInSeconds")
        return started + float(seconds) if seconds else None


def line_sinks(*sinks: Callable[[str, str, str], None]) -> LineSink:
    def fan_out(host: str, stream: str, line: str) -> None:
        for sink in sinks:
            sink(host, stream, line)

    return fan_out


def elapsed_seconds(started: float) -> int:
    return max(1, round(time.monotonic() - started))
