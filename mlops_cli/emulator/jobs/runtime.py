"""The job runner's process-wide state: where work folders go, how the runner reaches the emulator's own S3 and
CloudWatch Logs, and which jobs are running (so that a reset can stop them). Nothing runs at import time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# SageMaker sends SIGTERM and waits 120 seconds before it kills the algorithm (StoppingCondition docs).
STOP_GRACE_SECONDS = 120.0
# The runner's own calls to the emulator use these; the server never checks them.
_CREDENTIALS = {"aws_access_key_id": "mlops-emulator-jobs", "aws_secret_access_key": "mlops-emulator-jobs"}


def announce(message: str) -> None:
    """A line in the server's log (its stdout), where `mlops local logs` shows it."""
    print(f"mlops emulator: {message}", flush=True)


@dataclass(frozen=True)
class Settings:
    work_dir: Path  # per-job work folders go to <work_dir>/jobs/<job-name>
    endpoint_url: str  # the emulator itself, for the runner's S3 and Logs calls
    stop_grace: float = STOP_GRACE_SECONDS

    @property
    def python_envs_dir(self) -> Path:
        """The cached environments for requirements.txt (python_envs): in the emulator's home next to the work
        folders, so that `mlops local reset`, which empties those, keeps them."""
        return self.work_dir.parent / "python-envs"


class Run(Protocol):
    name: str

    def abandon(self) -> None: ...

    def join(self, timeout: float) -> None: ...


class Runtime:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._runs: dict[int, Run] = {}
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._lock = threading.Lock()

    def configure(self, settings: Settings | None) -> None:
        with self._lock:
            self._settings = settings
            self._clients.clear()

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            raise RuntimeError("the job runner is not installed (mlops_cli.emulator.jobs.install)")
        return self._settings

    def client(self, service: str, account_id: str, region: str) -> Any:
        """A boto3 client for the emulator's own `service`, in the job's account and region. Cached (clients are
        thread-safe); built without the user's profile or credentials, which the emulator must never see."""
        key = (service, account_id, region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = _make_client(service, self.settings.endpoint_url, account_id, region)
            return self._clients[key]

    def register(self, run: Run) -> None:
        with self._lock:
            self._runs[id(run)] = run

    def unregister(self, run: Run) -> None:
        with self._lock:
            self._runs.pop(id(run), None)

    def running(self) -> list[Run]:
        with self._lock:
            return list(self._runs.values())

    def abandon_all(self, timeout: float = 10.0) -> None:
        """Kill every job's workers at once and wait (at most `timeout` seconds) for their runner threads to end,
        quietly: they change no state and upload nothing. For a reset, which wipes the work folders next."""
        runs = self.running()
        for run in runs:
            run.abandon()
        deadline = time.monotonic() + timeout
        for run in runs:
            run.join(max(0.0, deadline - time.monotonic()))


def _make_client(service: str, endpoint_url: str, account_id: str, region: str) -> Any:
    import boto3
    import botocore.session
    from botocore.config import Config

    # No AWS_PROFILE from the server's environment: a profile that is missing here would break the session.
    core = botocore.session.Session(session_vars={"profile": (None, None, None, None)})
    session = boto3.session.Session(botocore_session=core, region_name=region, **_CREDENTIALS)
    config = Config(
        s3={"addressing_style": "path"},
        retries={"max_attempts": 3, "mode": "standard"},
        proxies={},  # loopback only, never through a proxy from the environment
        connect_timeout=5,
        read_timeout=120,
    )
    client = session.client(service, endpoint_url=endpoint_url, config=config)

    def in_account(request: Any, **_: Any) -> None:
        request.headers["x-moto-account-id"] = account_id  # moto serves the account this header names

    client.meta.events.register("before-sign", in_account)
    return client


runtime = Runtime()
