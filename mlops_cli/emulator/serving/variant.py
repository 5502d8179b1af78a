"""One production variant's inference server: its work folder (`<fleet folder>/<variant>/`, standing in for the
container's /opt/ml: model.tar.gz extracted into `model/`), the code's requirements.txt installed (python_envs),
the `model_server.py` subprocess with the model's environment, its output in CloudWatch Logs, its health check,
and the HTTP call for each invocation."""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from mlops_cli.emulator import python_envs
from mlops_cli.emulator.jobs import process_tree
from mlops_cli.emulator.jobs.inputs import S3Uri
from mlops_cli.emulator.jobs.run import container_environment
from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.protocol import HOST
from mlops_cli.emulator.serving import model_server
from mlops_cli.emulator.serving.errors import FleetFailure
from mlops_cli.emulator.serving.logs import LogStream
from mlops_cli.emulator.serving.plans import VariantPlan

SERVER_SCRIPT = Path(model_server.__file__).resolve()
INVOCATION_TIMEOUT = 60.0  # seconds: SAGEMAKER_MODEL_SERVER_TIMEOUT's default, and the runtime's own limit
PING_TIMEOUT = 2.0  # seconds per /ping, as SageMaker's health check
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL (SageMaker waits 30)
_OUTPUT_TAIL = 40
# "/opt/ml" as a path of its own, at the start or after a separator, followed by "/" or the end.
_CONTAINER_PATH = re.compile(r"(?<![^\s=:,;'\"])/opt/ml(?![^/\s:,;'\"])")


@dataclass(frozen=True)
class Answer:
    status: int  # 0: the server did not answer
    body: bytes
    content_type: str
    custom_attributes: str | None


class VariantServer:
    def __init__(self, endpoint: str, folder: Path, plan: VariantPlan, region: str, log: LogStream) -> None:
        self.endpoint = endpoint
        self.plan = plan
        self.folder = folder  # stands for /opt/ml
        self.region = region
        self.log = log
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.load_failure: str | None = None
        self._tail: deque[str] = deque(maxlen=_OUTPUT_TAIL)
        self._port_known = threading.Event()
        self._pump: threading.Thread | None = None
        self._stopping = threading.Event()
        self.python: python_envs.PythonEnv | None = None  # the environment with the code's requirements.txt
        self.ready_deadline = 0.0  # time.monotonic() by which /ping must answer, from the container's start

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def model_dir(self) -> Path:
        return self.folder / "model"

    # ------------------------------------------------------------------------------------------------ start

    def prepare(self, s3: Any) -> tuple[Path, str, dict[str, str]]:
        """Download and extract the model; returns (code folder, program, environment). Raises FleetFailure."""
        container = self.plan.container
        if container is None:
            raise FleetFailure(self.plan.problem or f"production variant {self.name} has no model to serve")
        if self.folder.exists():  # left by an earlier fleet of the same name (a deleted endpoint, a reset)
            shutil.rmtree(self.folder)
        self.model_dir.mkdir(parents=True)
        if container.model_data_url:
            archive = self.folder / "model.tar.gz"
            self._download(s3, container.model_data_url, archive)
            self._extract(archive, self.model_dir, container.model_data_url)
            archive.unlink()
        environment = {key: self.rewrite(value) for key, value in container.environment.items()}
        program = environment.get("SAGEMAKER_PROGRAM", "")
        if not program:
            raise FleetFailure(
                f"production variant {self.name}: the model's Environment has no SAGEMAKER_PROGRAM, so the serving "
                f"container does not know which module holds model_fn (set SAGEMAKER_PROGRAM=inference.py)"
            )
        code = self._code_dir(s3, environment.get("SAGEMAKER_SUBMIT_DIRECTORY", ""), container.isolated)
        # The container starts here: installing requirements.txt and loading the model share its start-up time.
        self.ready_deadline = time.monotonic() + self.plan.startup_timeout
        self.python = self._install_requirements(code, container.isolated)
        return code, program, environment

    def rewrite(self, text: str) -> str:
        """`text` with every /opt/ml path pointing into this variant's folder."""
        return _CONTAINER_PATH.sub(lambda _match: str(self.folder), text)

    def _code_dir(self, s3: Any, submit_directory: str, isolated: bool) -> Path:
        if submit_directory.startswith("s3://") and isolated:
            # the serving toolkit downloads the submit directory from inside the container, which has no network
            raise FleetFailure(
                f"production variant {self.name}: the container cannot download SAGEMAKER_SUBMIT_DIRECTORY "
                f"{submit_directory}: the model's network isolation gives it no network. Pack the code into "
                f"model.tar.gz under code/ and set SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code"
            )
        if submit_directory.startswith("s3://"):
            archive = self.folder / "sourcedir.tar.gz"
            self._download(s3, submit_directory, archive)
            self._extract(archive, self.folder / "code", submit_directory)
            return self.folder / "code"
        code = Path(submit_directory) if submit_directory else self.model_dir / "code"
        if not code.is_dir():
            shown = submit_directory or "/opt/ml/model/code"
            raise FleetFailure(
                f"production variant {self.name}: the code folder {shown} does not exist (put inference.py under "
                f"code/ in model.tar.gz, or point SAGEMAKER_SUBMIT_DIRECTORY at a sourcedir.tar.gz in S3)"
            )
        return code

    def _install_requirements(self, code: Path, isolated: bool) -> python_envs.PythonEnv | None:
        """What the serving container does with a requirements.txt in the code folder before it imports the
        handler (sagemaker_containers' modules.import_module: `pip install . -r requirements.txt` from the code
        folder): here requirements.txt goes into the cached environment for it, under a layer of this server's
        own, with pip's output in the endpoint's log. It counts towards the container's start-up time. Raises
        FleetFailure when pip fails (the server never answers /ping), runs too long, or the fleet stops."""
        requirements = code / python_envs.REQUIREMENTS
        if not requirements.is_file():
            return None
        self.log.open()
        cache = python_envs.EnvironmentCache(runtime.settings.python_envs_dir)
        env = cache.location(requirements, isolated=isolated)
        self.log.write("Installing module with the following command:")
        self.log.write(" ".join(python_envs.pip_command(env)))
        try:
            env, built = cache.ensure(
                requirements,
                isolated=isolated,
                on_line=self.log.write,
                cancelled=lambda: self._stopping.is_set() or time.monotonic() >= self.ready_deadline,
            )
        except python_envs.InstallFailed as error:
            detail = " | ".join(error.stderr_tail[-3:])
            raise FleetFailure(
                self._health_check_failure(
                    f"InstallModuleError: pip install -r requirements.txt exited {error.exit_code}: {detail}"
                )
            ) from error
        except python_envs.BuildCancelled as cancelled:
            if self._stopping.is_set():
                raise FleetFailure("the fleet was stopped while it started") from cancelled
            raise FleetFailure(
                self._health_check_failure(
                    f"did not answer /ping within {self.plan.startup_timeout:.0f} s: pip was still installing "
                    f"requirements.txt"
                )
            ) from cancelled
        if built:
            announce(f"endpoint {self.endpoint}: built the Python environment {env.root} for {requirements}")
        else:
            self.log.write(f"(emulator) requirements.txt is installed already in the cached environment {env.root}")
        return python_envs.layer(self.folder / "python-env", env)

    def _download(self, s3: Any, uri: str, target: Path) -> None:
        try:
            location = S3Uri.parse(uri)
            s3.download_file(location.bucket, location.key, str(target))
        except Exception as exc:
            raise FleetFailure(
                f'Failed to download model data for container "primary" of production variant {self.name} from '
                f'URL "{uri}". Please ensure that there is an object located at the URL and that the role passed '
                f"to CreateModel has permissions to download the object. ({exc})"
            ) from exc

    def _extract(self, archive: Path, destination: Path, uri: str) -> None:
        destination.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive, "r:*") as opened:
                opened.extractall(destination, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise FleetFailure(
                f'Failed to extract model data archive from URL "{uri}" for production variant {self.name}. '
                f"Please ensure that the object located at the URL is a valid tar.gz archive. ({exc})"
            ) from exc

    def server_environment(self, environment: dict[str, str]) -> dict[str, str]:
        """The model server's environment: the model's, with the emulator as the AWS endpoint; for a model with
        network isolation no reachable endpoint and no credentials, as the jobs' isolated containers."""
        isolated = self.plan.container is not None and self.plan.container.isolated
        return container_environment(self.region, environment, isolated=isolated)

    def spawn(self, code_dir: Path, program: str, environment: dict[str, str]) -> None:
        env = self.server_environment(environment)
        # One BLAS thread per worker: the workers are forked processes, and 2 cores are shared by everything.
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", "1")
        if self.python is not None:  # `python3` in a subprocess of the handler is this one too
            env["PATH"] = self.python.first_on_path(env.get("PATH"))
        command = [
            str(self.python.python) if self.python is not None else sys.executable,
            "-I",  # no PYTHONPATH, no script folder on sys.path: only the model's code is importable
            "-u",
            str(SERVER_SCRIPT),
            "--model-dir",
            str(self.model_dir),
            "--code-dir",
            str(code_dir),
            "--program",
            program,
        ]
        self.log.open()
        try:
            # In the emulator's process group: `mlops local down` stops the group, so no server outlives it.
            self.process = subprocess.Popen(
                command,
                cwd=self.folder,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                close_fds=True,
            )
        except OSError as exc:
            raise FleetFailure(f"production variant {self.name}: could not start the model server: {exc}") from exc
        self._pump = threading.Thread(target=self._read_output, args=(self.process.stdout,), daemon=True)
        self._pump.start()

    def _read_output(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                self._tail.append(line)
                self.log.write(line)
                if line.startswith(model_server.READY_LINE):
                    self.port = int(line[len(model_server.READY_LINE) :])
                    self._port_known.set()
                elif line.startswith(model_server.LOAD_FAILED_LINE) and self.load_failure is None:
                    self.load_failure = line[len(model_server.LOAD_FAILED_LINE) :]
        self._port_known.set()  # the server exited: nobody waits for a port any more

    def wait_ready(self, deadline: float) -> None:
        """Until /ping answers 200. Raises FleetFailure if the server exits or the deadline passes first."""
        while time.monotonic() < deadline:
            if self._port_known.wait(timeout=0.1) and self.port is not None and self.ping():
                announce(
                    f"endpoint {self.endpoint}: variant {self.name} serving on http://{HOST}:{self.port}; "
                    f"work folder {self.folder}"
                )
                return
            if self.process is not None and self.process.poll() is not None:
                raise FleetFailure(self._health_check_failure())
            time.sleep(0.05)
        raise FleetFailure(self._health_check_failure(f"did not answer /ping within {self.plan.startup_timeout:.0f} s"))

    def _health_check_failure(self, detail: str | None = None) -> str:
        if detail is None:
            detail = self.load_failure or "the model server exited: " + " | ".join(list(self._tail)[-3:])
        return (
            f"The primary container for production variant {self.name} did not pass the ping health check. "
            f"Please check CloudWatch logs for this endpoint. (emulator: {detail})"
        )

    def ping(self) -> bool:
        try:
            status, _body, _headers = self._request("GET", "/ping", b"", {}, PING_TIMEOUT)
        except OSError:
            return False
        return status == 200

    # ------------------------------------------------------------------------------------------------ serve

    def invoke(self, body: bytes, headers: dict[str, str]) -> Answer:
        """POST /invocations; status 0 when the server did not answer (in time)."""
        try:
            status, answer, answer_headers = self._request("POST", "/invocations", body, headers, INVOCATION_TIMEOUT)
        except TimeoutError:
            message = (
                "Your invocation timed out while waiting for a response from container primary. Review the latency "
                "metrics for each container in Amazon CloudWatch, resolve the issue, and try again."
            )
            return Answer(0, message.encode(), "text/plain", None)
        except OSError as exc:
            return Answer(0, f"the model server did not answer: {exc}".encode(), "text/plain", None)
        return Answer(
            status,
            answer,
            answer_headers.get("content-type", "application/octet-stream"),
            answer_headers.get("x-amzn-sagemaker-custom-attributes"),
        )

    def _request(
        self, method: str, path: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> tuple[int, bytes, dict[str, str]]:
        if self.port is None:
            raise ConnectionRefusedError("the model server has no port yet")
        connection = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read(), {key.lower(): value for key, value in response.getheaders()}
        finally:
            connection.close()

    # ------------------------------------------------------------------------------------------------- stop

    def stop(self, ship_logs: bool = True) -> None:
        self._stopping.set()  # a pip install still running for this server ends
        process = self.process
        if process is not None:
            process_tree.terminate(process, STOP_GRACE)  # the server and its workers
        if self._pump is not None:
            self._pump.join(timeout=5)
        self.log.close(ship=ship_logs)
        if process is not None:
            announce(
                f"endpoint {self.endpoint}: variant {self.name} stopped (port {self.port}, pid {process.pid}); "
                f"work folder {self.folder}"
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None
