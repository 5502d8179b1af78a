"""Processing jobs, run as SageMaker runs them (contract section 1): per host, the inputs are downloaded into the
host's /opt/ml/processing/..., the config files are written, the entrypoint runs, and when every host exits 0 the
outputs are uploaded and the job is Completed; otherwise it is Failed (or Stopped)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from mlops_cli.emulator import python_envs
from mlops_cli.emulator.jobs import logs
from mlops_cli.emulator.jobs.errors import JobFailure
from mlops_cli.emulator.jobs.inputs import S3Uri
from mlops_cli.emulator.jobs.run import JobRun, container_environment, now, update, with_python
from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.jobs.storage import Storage
from mlops_cli.emulator.jobs.workers import Outcome, WorkerGroup, WorkerSpec
from mlops_cli.emulator.jobs.workspace import (
    HostWorkspace,
    fresh_folder,
    host_names,
    job_folder,
    read_text_file,
    write_json,
)

LOCAL_PATH_ROOT = "/opt/ml/processing/"
MESSAGE_LIMIT = 1024  # ExitMessage is the first 1 KB of /opt/ml/output/message
REASON_LIMIT = 1024  # FailureReason's maximum length
_SHELLS = ("bash", "sh")


def validate(request: dict[str, Any]) -> str | None:
    """Why AWS would refuse the request (None if it would not): every LocalPath must be under /opt/ml/processing/."""
    paths = [item["S3Input"]["LocalPath"] for item in request.get("ProcessingInputs") or [] if "S3Input" in item]
    outputs = (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    paths += [item["S3Output"]["LocalPath"] for item in outputs if "S3Output" in item]
    for path in paths:
        if not path.startswith(LOCAL_PATH_ROOT) or ".." in path.split("/"):
            return f"LocalPath {path!r} must be a path under {LOCAL_PATH_ROOT}"
    return None


def shell_script(command: list[str]) -> Path | None:
    """The script a `bash|sh <script> ...` entrypoint runs (the SDK's FrameworkProcessor: runproc.sh), if it is one."""
    if len(command) > 1 and os.path.basename(command[0]) in _SHELLS and not command[1].startswith("-"):
        return Path(command[1])
    return None


def rewrite_script(script: Path, workspace: HostWorkspace) -> None:
    """A shell script names container paths in its text (the SDK's runproc.sh: `cd /opt/ml/processing/input/code`):
    the host's copy of it points into the host's work folder instead, as the arguments and Environment do."""
    try:
        text = script.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return  # not in the work folder (a script of this machine) or not text: run as it is
    if workspace.opt_ml.resolve() in script.resolve().parents:
        script.write_text(workspace.rewrite(text), encoding="utf-8")


def instance_count(request: dict[str, Any]) -> int:
    return int(request["ProcessingResources"]["ClusterConfig"].get("InstanceCount") or 1)


class ProcessingRun(JobRun):
    kind = "processing job"

    def __init__(self, job: Any, request: dict[str, Any], account_id: str, region: str) -> None:
        super().__init__(request["ProcessingJobName"], job)
        self.request = request
        self.account_id = account_id
        self.region = region
        self._timed_out = False

    @property
    def _isolated(self) -> bool:
        return bool((self.request.get("NetworkConfig") or {}).get("EnableNetworkIsolation"))

    def run(self) -> None:
        hosts = host_names(instance_count(self.request))
        folder = fresh_folder(job_folder(self.settings.work_dir, self.name))
        started, wall_started = time.monotonic(), time.time()
        update(self.job, processing_start_time=now(), last_modified_time=now())
        announce(f"processing job {self.name} started on {len(hosts)} host(s); work folder {folder}")
        storage = Storage(runtime.client("s3", self.account_id, self.region), self.region, self.request["RoleArn"])
        log = logs.JobLog(
            runtime.client("logs", self.account_id, self.region), logs.PROCESSING_GROUP, self.name, hosts, wall_started
        )
        try:
            workspaces = [HostWorkspace(host, folder / host) for host in hosts]
            for index, workspace in enumerate(workspaces):
                self._prepare(workspace, hosts, index, storage)
                self.check()
            if self.stop_requested.is_set():
                return self._end("Stopped")
            try:
                specs = [self._worker(workspace) for workspace in workspaces]
            except python_envs.BuildCancelled:
                self.check()
                return self._end("Stopped")
            deadline = self.deadline(self.request.get("StoppingCondition"), started)
            group, outcome = self.run_workers(
                specs,
                lambda host, _stream, line: log.write(host, line),
                deadline,
                self._on_stopping,
            )
            self._finish(outcome, group, workspaces, storage)
        finally:
            log.close(ship=not self.abandoned)

    def _prepare(self, workspace: HostWorkspace, hosts: list[str], index: int, storage: Storage) -> None:
        config = {**self.request, "ProcessingJobArn": self.job.arn}
        write_json(workspace.processing_config_dir / "processingjobconfig.json", config)
        write_json(
            workspace.processing_config_dir / "resourceconfig.json", {"current_host": hosts[index], "hosts": hosts}
        )
        workspace.output_dir.mkdir(parents=True, exist_ok=True)
        for item in self.request.get("ProcessingInputs") or []:
            source = item.get("S3Input")
            if source is None:
                raise JobFailure(
                    f"ClientError: input {item.get('InputName')!r}: the emulator runs only S3Input inputs "
                    "(not DatasetDefinition)."
                )
            if source.get("S3InputMode", "File") != "File":
                raise JobFailure(f"ClientError: input {item.get('InputName')!r}: the emulator supports File mode only.")
            storage.fetch(
                source["S3Uri"],
                source.get("S3DataType", "S3Prefix"),
                source.get("S3DataDistributionType"),
                index,
                len(hosts),
                workspace.path(source["LocalPath"]),
            )
        for output in self._outputs():
            workspace.path(output["S3Output"]["LocalPath"]).mkdir(parents=True, exist_ok=True)

    def _outputs(self) -> list[dict[str, Any]]:
        outputs = (self.request.get("ProcessingOutputConfig") or {}).get("Outputs") or []
        return [item for item in outputs if "S3Output" in item and not item.get("AppManaged")]

    def _worker(self, workspace: HostWorkspace) -> WorkerSpec:
        app = self.request["AppSpecification"]
        entrypoint = app.get("ContainerEntrypoint")
        if not entrypoint:
            raise JobFailure(
                "ClientError: the emulator runs processing jobs only with AppSpecification.ContainerEntrypoint "
                "(an image's own entrypoint needs Docker)."
            )
        command = with_python(
            [workspace.rewrite(part) for part in [*entrypoint, *(app.get("ContainerArguments") or [])]]
        )
        environment = {key: workspace.rewrite(value) for key, value in (self.request.get("Environment") or {}).items()}
        env = container_environment(self.region, environment, isolated=self._isolated)
        script = shell_script(command)
        if script is not None:
            rewrite_script(script, workspace)
            python = self._python_for(script, workspace)
            env = {**env, "PATH": python.first_on_path(env.get("PATH"))}
        return WorkerSpec(workspace.host, command, workspace.root, env)

    def _python_for(self, script: Path, workspace: HostWorkspace) -> python_envs.PythonEnv:
        """What `python3` and `pip` are for a shell entrypoint such as the SDK's runproc.sh (`pip install -r
        requirements.txt`, then `python3 <entry point>`): a layer of the host's own over the cached environment
        for the requirements.txt next to the script, built here first so that the script's own pip finds it all
        installed. When that build fails, the layer sits on the image alone: the script's pip then fails in the
        job's log, and the job with it, as on AWS. Without requirements.txt, the layer is the image."""
        requirements = script.parent / python_envs.REQUIREMENTS
        base = None
        if requirements.is_file():
            cache = python_envs.EnvironmentCache(self.settings.python_envs_dir)
            try:
                base, built = cache.ensure(
                    requirements,
                    isolated=self._isolated,
                    on_line=lambda _line: None,  # the script's own pip writes the job's log
                    cancelled=lambda: self.abandoned or self.stop_requested.is_set(),
                )
            except python_envs.InstallFailed as error:
                announce(f"processing job {self.name}: pip could not install {requirements}: {error}")
            else:
                if built:
                    announce(f"processing job {self.name}: built the Python environment {base.root} for {requirements}")
        return python_envs.layer(workspace.root / "python-env", base)

    def mark_stopping(self) -> None:
        update(self.job, last_modified_time=now(), processing_job_status="Stopping")

    def _on_stopping(self, outcome: Outcome) -> None:
        if outcome is Outcome.TIMED_OUT:
            self._timed_out = True
            self.mark_stopping()

    def _finish(self, outcome: Outcome, group: WorkerGroup, workspaces: list[HostWorkspace], storage: Storage) -> None:
        message = read_text_file(workspaces[0].message_file, MESSAGE_LIMIT)
        if outcome is Outcome.COMPLETED:
            self._upload(workspaces, storage)
            return self._end("Completed", exit_message=message)
        failed = group.first_failure()
        if outcome is Outcome.FAILED and failed is not None:
            workspace = next(ws for ws in workspaces if ws.host == failed.spec.host)
            message = read_text_file(workspace.message_file, MESSAGE_LIMIT)
            detail = message if message is not None else "\n".join(failed.stderr_tail)
            return self._end("Failed", reason=f"AlgorithmError: {detail}", exit_message=message)
        if self._timed_out:
            seconds = self.request["StoppingCondition"]["MaxRuntimeInSeconds"]
            reason = f"MaxRuntimeExceeded: the job ran longer than StoppingCondition.MaxRuntimeInSeconds ({seconds} s)."
            return self._end("Stopped", reason=reason, exit_message=message)
        return self._end("Stopped", exit_message=message)

    def _upload(self, workspaces: list[HostWorkspace], storage: Storage) -> None:
        """EndOfJob upload of every host's output folders (Continuous mode uploads at the end too here)."""
        kms_key = (self.request.get("ProcessingOutputConfig") or {}).get("KmsKeyId")
        for output in self._outputs():
            destination = S3Uri.parse(output["S3Output"]["S3Uri"])
            for workspace in workspaces:
                self.check()
                storage.upload_tree(workspace.path(output["S3Output"]["LocalPath"]), destination, kms_key)

    def fail(self, reason: str) -> None:
        self._end("Failed", reason=reason)

    def _end(self, status: str, reason: str | None = None, exit_message: str | None = None) -> None:
        with self.state_lock:
            self.finish()
            ended = now()
            if self.job.processing_start_time is None:
                update(self.job, processing_start_time=ended)
            update(
                self.job,
                failure_reason=reason[:REASON_LIMIT] if reason else None,
                exit_message=exit_message,
                processing_end_time=ended,
                last_modified_time=ended,
                processing_job_status=status,  # last: a client that sees the job ended sees all that came with it
            )
        folder = job_folder(self.settings.work_dir, self.name)
        announce(f"processing job {self.name} ended {status}{f' ({reason})' if reason else ''}; work folder {folder}")
