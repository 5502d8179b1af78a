"""Lambda targets run the function's own deployed code, without Docker (moto's Invoke needs it, so it is not
used): the zip moto stored at CreateFunction is extracted to `<work_dir>/functions/<name>/<code sha256>/`, and each
version of the function (its code, handler, environment, timeout) gets a small pool of persistent execution
environments: `function_runtime.py` subprocesses, each running one invocation at a time.

An environment gets the function's Environment variables, the Lambda runtime's own variables, and the emulator as
AWS_ENDPOINT_URL with fixed fake credentials, so that the function's boto3 calls reach the emulator and never a real
account. Its output goes to CloudWatch Logs (`/aws/lambda/<name>`), with Lambda's START/END/REPORT lines. A function
that runs past its Timeout has its environment killed (Lambda does the same); a new one starts for the next call.
Python runtimes and zip packages only."""

from __future__ import annotations

import contextlib
import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from mlops_cli.emulator.balancing import function_runtime
from mlops_cli.emulator.jobs import process_tree
from mlops_cli.emulator.jobs.run import container_environment
from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.serving.logs import LogStream

RUNTIME_SCRIPT = Path(function_runtime.__file__).resolve()
INIT_TIMEOUT = 10.0  # seconds: Lambda's limit for the init phase
MAX_ENVIRONMENTS = 4  # concurrent invocations per function version
IDLE_LIFETIME = 300.0  # seconds an unused environment is kept warm (Lambda reclaims idle ones after minutes)
_STOP_GRACE = 1.0


@dataclass(frozen=True)
class Outcome:
    """An invocation's end: `ok` with the function's result, or `error` (it raised, or could not start), `timeout`,
    `unavailable` (no such function, or one the emulator cannot run)."""

    kind: str
    result: Any = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


@dataclass(frozen=True)
class FunctionSpec:
    account_id: str
    region: str
    name: str
    version: str
    arn: str
    handler: str
    timeout: float
    memory: int
    environment: tuple[tuple[str, str], ...]
    code_sha256: str  # hex

    @property
    def log_group(self) -> str:
        return f"/aws/lambda/{self.name}"


class FunctionUnavailable(Exception):
    pass


def spec_of(function_arn: str, account_id: str, region: str) -> tuple[FunctionSpec, bytes]:
    """The version of the function that an ARN (qualified or not) names, and its zip. Raises FunctionUnavailable."""
    from moto.awslambda.models import lambda_backends

    try:
        function = lambda_backends[account_id][region].get_function(function_arn)
    except Exception as exc:
        raise FunctionUnavailable(f"function {function_arn} was not found ({exc})") from exc
    runtime_name = str(function.run_time or "")
    if function.package_type != "Zip" or not runtime_name.startswith("python"):
        raise FunctionUnavailable(
            f"function {function.function_name}: the emulator runs Python functions deployed as a zip only "
            f"(this one is {function.package_type}, runtime {runtime_name or 'none'})"
        )
    code = bytes(getattr(function, "code_bytes", b"") or b"")
    if not code:
        raise FunctionUnavailable(f"function {function.function_name} has no code the emulator can read")
    spec = FunctionSpec(
        account_id=account_id,
        region=region,
        name=function.function_name,
        version=str(function.version),
        arn=str(function.function_arn),
        handler=str(function.handler or ""),
        timeout=float(function.timeout or 3),
        memory=int(function.memory_size or 128),
        environment=tuple(sorted((str(k), str(v)) for k, v in (function.environment_vars or {}).items())),
        code_sha256=str(function.code_digest),
    )
    return spec, code


def code_folder(work_dir: Path, spec: FunctionSpec, code: bytes) -> Path:
    """The extracted zip, once per code version (extracted aside, then renamed: never half there)."""
    folder = work_dir / "functions" / spec.name / spec.code_sha256
    if folder.is_dir():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.with_name(f".{spec.code_sha256}.{uuid.uuid4().hex[:8]}")
    try:
        with zipfile.ZipFile(io.BytesIO(code)) as archive:
            archive.extractall(staging)  # zipfile drops absolute paths and ".." parts
        os.replace(staging, folder)
    except OSError:
        if not folder.is_dir():
            raise
    except zipfile.BadZipFile as exc:
        raise FunctionUnavailable(f"function {spec.name}: its code is not a zip file ({exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def environment_of(spec: FunctionSpec, code_dir: Path, log_stream: str) -> dict[str, str]:
    env = container_environment(spec.region, dict(spec.environment))
    # Lambda's reserved variables: a function cannot set these, so they come last.
    env.update(
        LAMBDA_TASK_ROOT=str(code_dir),
        _HANDLER=spec.handler,
        AWS_LAMBDA_FUNCTION_NAME=spec.name,
        AWS_LAMBDA_FUNCTION_VERSION=spec.version,
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(spec.memory),
        AWS_LAMBDA_LOG_GROUP_NAME=spec.log_group,
        AWS_LAMBDA_LOG_STREAM_NAME=log_stream,
        AWS_EXECUTION_ENV="AWS_Lambda_python",
        AWS_REGION=spec.region,
        AWS_DEFAULT_REGION=spec.region,
        AWS_ENDPOINT_URL=runtime.settings.endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        PYTHONUNBUFFERED="1",
    )
    env.pop("AWS_SESSION_TOKEN", None)
    return env


class Environment:
    """One execution environment: a function_runtime.py subprocess, one invocation at a time."""

    def __init__(self, spec: FunctionSpec, code_dir: Path) -> None:
        self.spec = spec
        self.code_dir = code_dir
        self.log_stream = f"{datetime.now(UTC):%Y/%m/%d}/[{spec.version}]{uuid.uuid4().hex}"
        self.log = LogStream(runtime.client("logs", spec.account_id, spec.region), spec.log_group, self.log_stream)
        self.process: subprocess.Popen[str] | None = None
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.alive = False
        self.last_used = time.monotonic()

    def start(self) -> Outcome | None:
        """Start it and import the handler; None when it is ready, else the failed invocation's Outcome."""
        spec = self.spec
        command = [
            sys.executable,
            "-I",  # only the function's own folder (and the installed packages) is importable
            "-u",
            str(RUNTIME_SCRIPT),
            "--code-dir",
            str(self.code_dir),
            "--handler",
            spec.handler,
            "--function-name",
            spec.name,
            "--function-version",
            spec.version,
            "--function-arn",
            spec.arn,
            "--memory",
            str(spec.memory),
            "--log-group",
            spec.log_group,
            "--log-stream",
            self.log_stream,
        ]
        self.log.open()
        try:
            # In the emulator's process group: stopping the emulator's group stops every environment too.
            self.process = subprocess.Popen(
                command,
                cwd=self.code_dir,
                env=environment_of(spec, self.code_dir, self.log_stream),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                bufsize=1,
                close_fds=True,
            )
        except OSError as exc:
            self.log.close()
            return Outcome("error", message=f"function {spec.name}: could not start its runtime: {exc}")
        threading.Thread(target=self._read_replies, args=(self.process.stdout,), daemon=True).start()
        threading.Thread(target=self._read_log, args=(self.process.stderr,), daemon=True).start()
        first = self._reply(INIT_TIMEOUT)
        if first is not None and first.get("ready"):
            self.alive = True
            return None
        self.stop()
        if first is None:
            return Outcome(
                "error", message=f"function {spec.name}: its runtime did not start within {INIT_TIMEOUT:.0f} s"
            )
        error = first.get("initError") or {}
        return Outcome("error", message=f"{error.get('errorType', 'Runtime.Unknown')}: {error.get('errorMessage', '')}")

    def _read_replies(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        with stream:
            for line in stream:
                try:
                    self._replies.put(json.loads(line))
                except ValueError:
                    continue
        self._replies.put(None)  # the process ended

    def _read_log(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        with stream:
            for line in stream:
                self.log.write(line.rstrip("\r\n"))

    def _reply(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self._replies.get(timeout=timeout)
        except queue.Empty:
            return None

    def invoke(self, event: dict[str, Any], timeout: float) -> Outcome:
        process = self.process
        if process is None or process.stdin is None or not self.alive:
            return Outcome("error", message=f"function {self.spec.name}: its runtime is not running")
        request_id = str(uuid.uuid4())
        self.log.write(f"START RequestId: {request_id} Version: {self.spec.version}")
        started = time.monotonic()
        try:
            process.stdin.write(
                json.dumps({"requestId": request_id, "event": event, "timeoutMs": timeout * 1000}) + "\n"
            )
            process.stdin.flush()
        except (OSError, ValueError):
            self.alive = False
            return Outcome("error", message=f"function {self.spec.name}: its runtime exited")
        reply = self._reply(timeout)
        duration = (time.monotonic() - started) * 1000
        if reply is None:
            self.alive = False
            timed_out = process.poll() is None
            if timed_out:
                self.log.write(
                    f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after {timeout:.2f} seconds"
                )
            self.log.write(f"END RequestId: {request_id}")
            self.log.write(
                f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {self.spec.memory} MB"
            )
            if timed_out:
                return Outcome("timeout", message=f"Task timed out after {timeout:.2f} seconds")
            return Outcome("error", message=f"function {self.spec.name}: its runtime exited during the invocation")
        self.log.write(f"END RequestId: {request_id}")
        self.log.write(
            f"REPORT RequestId: {request_id}\tDuration: {duration:.2f} ms\tMemory Size: {self.spec.memory} MB"
        )
        if "error" in reply:
            error = reply["error"] or {}
            return Outcome("error", message=f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}")
        return Outcome("ok", result=reply.get("result"))

    def stop(self, ship_logs: bool = True) -> None:
        """End the subprocess; `ship_logs=False` when the emulator resets or stops (nowhere to ship them to)."""
        self.alive = False
        process = self.process
        if process is not None:
            with contextlib.suppress(OSError, ValueError):
                if process.stdin is not None:
                    process.stdin.close()
            process_tree.terminate(process, _STOP_GRACE)  # type: ignore[arg-type]
        self.log.close(ship=ship_logs)


class Pool:
    """The execution environments of one function version."""

    def __init__(self, spec: FunctionSpec, code_dir: Path) -> None:
        self.spec = spec
        self.code_dir = code_dir
        self._idle: list[Environment] = []
        self._count = 0
        self._retired = False
        self._ship_logs = True
        self._changed = threading.Condition()

    def invoke(self, event: dict[str, Any], timeout: float) -> Outcome:
        environment = self._acquire(timeout)
        if isinstance(environment, Outcome):
            return environment
        try:
            outcome = environment.invoke(event, timeout)
        finally:
            self._release(environment)
        return outcome

    def _acquire(self, timeout: float) -> Environment | Outcome:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._idle and self._count >= MAX_ENVIRONMENTS:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._retired:
                    return Outcome("timeout", message=f"function {self.spec.name}: every execution environment is busy")
                self._changed.wait(remaining)
            if self._idle:
                return self._idle.pop()
            self._count += 1
        environment = Environment(self.spec, self.code_dir)
        failure = environment.start()
        if failure is not None:
            with self._changed:
                self._count -= 1
                self._changed.notify()
            return failure
        return environment

    def _release(self, environment: Environment) -> None:
        environment.last_used = time.monotonic()
        with self._changed:
            if environment.alive and not self._retired:
                self._idle.append(environment)
                self._changed.notify()
                return
            self._count -= 1
            self._changed.notify()
        environment.stop(self._ship_logs)

    def reap(self, now: float) -> None:
        """Stop the environments unused for IDLE_LIFETIME."""
        with self._changed:
            stale = [environment for environment in self._idle if now - environment.last_used > IDLE_LIFETIME]
            self._idle = [environment for environment in self._idle if environment not in stale]
            self._count -= len(stale)
        for environment in stale:
            environment.stop()

    def retire(self, ship_logs: bool = True) -> None:
        """No new invocation; idle environments stop now, busy ones when their invocation ends."""
        with self._changed:
            self._retired = True
            self._ship_logs = ship_logs
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._changed.notify_all()
        for environment in idle:
            environment.stop(ship_logs)


class Functions:
    """Every function version the load balancers invoke, in every account and region."""

    def __init__(self) -> None:
        self._pools: dict[tuple[str, str, str], Pool] = {}  # (account, region, name) → the current version's pool
        self._lock = threading.Lock()

    def invoke(
        self, function_arn: str, account_id: str, region: str, event: dict[str, Any], timeout: float | None = None
    ) -> Outcome:
        """Invoke with the function's own Timeout, or `timeout` if shorter (a health check's)."""
        try:
            spec, code = spec_of(function_arn, account_id, region)
            pool = self._pool(spec, code)
        except FunctionUnavailable as exc:
            return Outcome("unavailable", message=str(exc))
        except OSError as exc:
            return Outcome("unavailable", message=f"function {function_arn}: could not extract its code: {exc}")
        limit = spec.timeout if timeout is None else min(spec.timeout, timeout)
        return pool.invoke(event, limit)

    def _pool(self, spec: FunctionSpec, code: bytes) -> Pool:
        key = (spec.account_id, spec.region, spec.name)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None and pool.spec == spec:
                return pool
        folder = code_folder(runtime.settings.work_dir, spec, code)
        with self._lock:
            current = self._pools.get(key)
            if current is not None and current.spec == spec:
                return current
            pool = self._pools[key] = Pool(spec, folder)
        if current is not None:
            current.retire()  # a new version: its environments go
        announce(f"function {spec.name}: version {spec.version} (code {spec.code_sha256[:12]}) runs from {folder}")
        return pool

    def reap_idle(self) -> None:
        now = time.monotonic()
        with self._lock:
            pools = list(self._pools.values())
        for pool in pools:
            pool.reap(now)

    def stop_all(self) -> None:
        """Stop every environment (the emulator resets or stops: their last lines are not shipped)."""
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.retire(ship_logs=False)


functions = Functions()
