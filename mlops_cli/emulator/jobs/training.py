"""Training jobs, run as the scikit-learn image runs them (contract section 2): per host, the channels and the
source code are downloaded, the toolkit's config files and SM_* environment are prepared, and the entry script
runs with the hyperparameters as arguments. On success algo-1's /opt/ml/model becomes model.tar.gz in S3."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mlops_cli.emulator import python_envs
from mlops_cli.emulator.jobs import logs, toolkit
from mlops_cli.emulator.jobs.errors import JobFailure
from mlops_cli.emulator.jobs.inputs import S3Uri
from mlops_cli.emulator.jobs.metrics import MetricCollector
from mlops_cli.emulator.jobs.run import (
    JobRun,
    container_environment,
    elapsed_seconds,
    line_sinks,
    now,
    update,
)
from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.jobs.storage import Storage, extract_tarball, has_files, make_tarball
from mlops_cli.emulator.jobs.workers import Outcome, WorkerGroup, WorkerSpec
from mlops_cli.emulator.jobs.workspace import (
    HostWorkspace,
    fresh_folder,
    host_names,
    job_folder,
    read_text_file,
    write_json,
)

FAILURE_LIMIT = 1024  # SageMaker reports the first 1,024 characters of /opt/ml/output/failure
# SecondaryStatusTransitions' messages, as SageMaker words them.
MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
}


def artifact_uri(request: dict[str, Any], name: str) -> S3Uri:
    """`{S3OutputPath}/{TrainingJobName}/output/<name>`, where SageMaker puts model.tar.gz and output.tar.gz."""
    return S3Uri.parse(request["OutputDataConfig"]["S3OutputPath"]).child(f"{request['TrainingJobName']}/output/{name}")


def first_transition(created: Any) -> list[dict[str, Any]]:
    return [{"Status": "Starting", "StartTime": created, "StatusMessage": MESSAGES["Starting"]}]


def transitioned(transitions: list[dict[str, Any]], status: str, at: Any) -> list[dict[str, Any]]:
    """A new list (describe may be reading the old one) that ends the current status and starts `status`."""
    updated = [dict(item) for item in transitions]
    if updated and "EndTime" not in updated[-1]:
        updated[-1]["EndTime"] = at
    entry = {"Status": status, "StartTime": at, "StatusMessage": MESSAGES[status]}
    if status in ("Completed", "Failed", "Stopped", "MaxRuntimeExceeded"):
        entry["EndTime"] = at
    return [*updated, entry]


class TrainingRun(JobRun):
    kind = "training job"

    def __init__(self, job: Any, request: dict[str, Any], account_id: str, region: str) -> None:
        super().__init__(request["TrainingJobName"], job)
        self.request = request
        self.account_id = account_id
        self.region = region
        self.hyperparameters = toolkit.Hyperparameters.split(request.get("HyperParameters"))
        self.metrics = MetricCollector(request["AlgorithmSpecification"].get("MetricDefinitions"))
        self._timed_out = False
        self._started = time.monotonic()

    def transition(self, status: str, **fields: Any) -> None:
        """Move to secondary status `status`, changing `fields` too; TrainingJobStatus changes last, so a client that
        sees the job ended also sees everything that came with it."""
        with self.state_lock:  # the runner and a StopTrainingJob request both move the job on
            at = now()
            primary = fields.pop("training_job_status", None)
            transitions = transitioned(self.job.secondary_status_transitions, status, at)
            update(self.job, **fields, secondary_status=status, secondary_status_transitions=transitions)
            update(self.job, last_modified_time=at)
            if primary is not None:
                update(self.job, training_job_status=primary)

    def mark_stopping(self) -> None:
        with self.state_lock:
            if self.job.training_job_status != "Stopping":
                self.transition("Stopping", training_job_status="Stopping")

    def run(self) -> None:
        hosts = host_names(int(self.request["ResourceConfig"].get("InstanceCount") or 1))
        folder = fresh_folder(job_folder(self.settings.work_dir, self.name))
        self._started, wall_started = time.monotonic(), time.time()
        announce(f"training job {self.name} started on {len(hosts)} host(s); work folder {folder}")
        storage = Storage(runtime.client("s3", self.account_id, self.region), self.region, self.request["RoleArn"])
        log = logs.JobLog(
            runtime.client("logs", self.account_id, self.region), logs.TRAINING_GROUP, self.name, hosts, wall_started
        )
        try:
            self.transition("Downloading", training_start_time=now())
            workspaces = [HostWorkspace(host, folder / host) for host in hosts]
            hosts_ready = []
            for index, workspace in enumerate(workspaces):
                hosts_ready.append(self._prepare(workspace, hosts, index, storage))
                self.check()
            if self.stop_requested.is_set():
                return self._end("Stopped", "Stopped")
            self.transition("Training")
            deadline = self.deadline(self.request.get("StoppingCondition"), self._started)
            try:
                specs = [self._worker(environment, env, log, deadline) for environment, env in hosts_ready]
            except python_envs.BuildCancelled:
                self.check()
                return self._end("Stopped", "MaxRuntimeExceeded" if self._timed_out else "Stopped")
            for spec in specs:
                log.write(spec.host, "Invoking script with the following command:")
                log.write(spec.host, " ".join(spec.command))
            sinks = line_sinks(
                lambda host, _stream, line: log.write(host, line),
                lambda _host, _stream, line: self.metrics.feed(line, now()),
            )
            group, outcome = self.run_workers(specs, sinks, deadline, self._on_stopping)
            self._finish(outcome, group, workspaces, storage)
        finally:
            log.close(ship=not self.abandoned)

    def _prepare(
        self, workspace: HostWorkspace, hosts: list[str], index: int, storage: Storage
    ) -> tuple[toolkit.TrainingEnvironment, dict[str, str]]:
        channels = self.request.get("InputDataConfig") or []
        mode = self.request["AlgorithmSpecification"].get("TrainingInputMode", "File")
        instance_type = self.request["ResourceConfig"].get("InstanceType", "ml.m5.large")
        data_config = toolkit.input_data_config(channels, mode)
        for folder in (workspace.model_dir, workspace.output_data_dir, workspace.intermediate_dir, workspace.code_dir):
            folder.mkdir(parents=True, exist_ok=True)
        write_json(workspace.input_config_dir / "hyperparameters.json", self.request.get("HyperParameters") or {})
        write_json(workspace.input_config_dir / "inputdataconfig.json", data_config)
        write_json(
            workspace.input_config_dir / "resourceconfig.json",
            toolkit.resource_config(workspace.host, hosts, instance_type),
        )
        for channel in channels:
            self._download_channel(channel, mode, workspace, index, len(hosts), storage)
        self._install_code(workspace, storage)
        environment = toolkit.TrainingEnvironment(
            job_name=self.name,
            job_arn=self.job.arn,
            region=self.region,
            workspace=workspace,
            hosts=hosts,
            instance_type=instance_type,
            hyperparameters=self.hyperparameters.with_paths(workspace.rewrite),
            input_data_config=data_config,
            request_environment=self.request.get("Environment") or {},
        )
        if not environment.program:
            raise JobFailure(
                "AlgorithmError: framework error: no sagemaker_program hyperparameter names the script to run."
            )
        return environment, container_environment(self.region, environment.env_vars(), isolated=self.isolated)

    def _worker(
        self, environment: toolkit.TrainingEnvironment, env: dict[str, str], log: logs.JobLog, deadline: float | None
    ) -> WorkerSpec:
        workspace = environment.workspace
        python = self._install_requirements(environment, log, deadline)
        if python is None:
            return WorkerSpec(workspace.host, environment.command(), workspace.code_dir, env)
        env = {**env, "PATH": python.first_on_path(env.get("PATH"))}  # `python3` in a subprocess is this one too
        return WorkerSpec(workspace.host, environment.command(str(python.python)), workspace.code_dir, env)

    def _install_requirements(
        self, environment: toolkit.TrainingEnvironment, log: logs.JobLog, deadline: float | None
    ) -> python_envs.PythonEnv | None:
        """entry_point.install: for a Python program whose code folder has requirements.txt, `python -m pip
        install -r requirements.txt` from the code folder before the script runs (a shell entry point gets no
        install). Here into the cached environment for that file, under a layer of the host's own. Raises
        JobFailure with the toolkit's InstallRequirementsError, or BuildCancelled when the job stops first.
        (With a setup.py too, the toolkit runs `pip install . -r requirements.txt`; the emulator installs the
        requirements only: the script runs from the code folder, where the package's modules import as well.)"""
        workspace, host = environment.workspace, environment.workspace.host
        requirements = workspace.code_dir / python_envs.REQUIREMENTS
        if not environment.program.endswith(".py") or not requirements.is_file():
            return None

        def cancelled() -> bool:
            if deadline is not None and time.monotonic() >= deadline and not self._timed_out:
                self._timed_out = True
                self.mark_stopping()
            return self.abandoned or self.stop_requested.is_set() or self._timed_out

        log.write(host, "Installing dependencies from requirements.txt")
        cache = python_envs.EnvironmentCache(self.settings.python_envs_dir)
        try:
            env, built = cache.ensure(
                requirements, isolated=self.isolated, on_line=lambda line: log.write(host, line), cancelled=cancelled
            )
        except python_envs.InstallFailed as error:
            reason = toolkit.script_error(error.command, error.exit_code, error.message, "InstallRequirementsError")
            workspace.failure_file.write_text(reason)
            raise JobFailure(f"AlgorithmError: {reason}") from error
        if built:
            announce(f"training job {self.name}: built the Python environment {env.root} for requirements.txt")
        else:
            log.write(host, f"(emulator) requirements.txt is installed already in the cached environment {env.root}")
        return python_envs.layer(workspace.root / "python-env", env)

    def _download_channel(
        self, channel: dict[str, Any], mode: str, workspace: HostWorkspace, index: int, count: int, storage: Storage
    ) -> None:
        name = channel["ChannelName"]
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            raise JobFailure(f"ClientError: channel {name!r}: the emulator supports S3DataSource channels only.")
        if (channel.get("InputMode") or mode) not in ("File", "FastFile"):
            raise JobFailure(f"ClientError: channel {name!r}: the emulator supports File and FastFile input modes.")
        storage.fetch(
            source["S3Uri"],
            source.get("S3DataType", "S3Prefix"),
            source.get("S3DataDistributionType"),
            index,
            count,
            workspace.channel_dir(name),
        )

    @property
    def isolated(self) -> bool:
        return bool(self.request.get("EnableNetworkIsolation"))

    def _install_code(self, workspace: HostWorkspace, storage: Storage) -> None:
        """Unpack `sagemaker_submit_directory` (an S3 tar.gz; a path in the container, such as a code channel's
        /opt/ml/input/data/code/sourcedir.tar.gz; or a local folder or tarball) into the code folder."""
        submitted = self.hyperparameters.sagemaker.get(toolkit.SUBMIT_DIRECTORY)
        if not submitted:
            return  # the script is expected in the image's /opt/ml/code, which here is empty
        source = workspace.rewrite(str(submitted))
        if source.startswith("s3://") and self.isolated:
            # the toolkit downloads the submit directory from inside the container, which has no network
            raise JobFailure(
                "AlgorithmError: framework error: the container cannot download sagemaker_submit_directory "
                f"{source}: network isolation gives it no network (EndpointConnectionError). Deliver the code "
                "as an input channel and point sagemaker_submit_directory at it."
            )
        if source.startswith("s3://"):
            with tempfile.TemporaryDirectory(dir=workspace.root) as scratch:
                archive = Path(scratch) / "sourcedir.tar.gz"
                storage.download_file(S3Uri.parse(source), archive)
                extract_tarball(archive, workspace.code_dir)
        elif Path(source).is_dir():
            shutil.copytree(source, workspace.code_dir, dirs_exist_ok=True)
        elif Path(source).is_file():
            extract_tarball(Path(source), workspace.code_dir)
        else:
            raise JobFailure(
                f"ClientError: sagemaker_submit_directory {source!r} is neither in S3 nor on this machine."
            )

    def _on_stopping(self, outcome: Outcome) -> None:
        if outcome is Outcome.TIMED_OUT:
            self._timed_out = True
            self.mark_stopping()

    def _finish(self, outcome: Outcome, group: WorkerGroup, workspaces: list[HostWorkspace], storage: Storage) -> None:
        if outcome is Outcome.COMPLETED:
            for workspace in workspaces:
                (workspace.output_dir / "success").touch()
            self.transition("Uploading")
            self._upload(workspaces[0], storage)
            return self._end("Completed", "Completed")
        failed = group.first_failure()
        if outcome is Outcome.FAILED and failed is not None:
            workspace = next(ws for ws in workspaces if ws.host == failed.spec.host)
            if not workspace.failure_file.exists():  # the toolkit writes one unless the script did
                error = toolkit.script_error(failed.spec.command, failed.exit_code or 1, "\n".join(failed.stderr_tail))
                workspace.failure_file.write_text(error)
            reason = read_text_file(workspace.failure_file, FAILURE_LIMIT) or ""
            return self._end("Failed", "Failed", reason=f"AlgorithmError: {reason}")
        # Stopped: SageMaker gives the algorithm time to save its model, and uploads what it saved.
        if has_files(workspaces[0].model_dir):
            self.transition("Uploading")
            self._upload(workspaces[0], storage)
        return self._end("Stopped", "MaxRuntimeExceeded" if self._timed_out else "Stopped")

    def _upload(self, workspace: HostWorkspace, storage: Storage) -> None:
        kms_key = self.request["OutputDataConfig"].get("KmsKeyId")
        with tempfile.TemporaryDirectory(dir=workspace.root) as scratch:
            model = artifact_uri(self.request, "model.tar.gz")
            storage.upload_file(make_tarball(workspace.model_dir, Path(scratch) / "model.tar.gz"), model, kms_key)
            update(self.job, model_artifacts={"S3ModelArtifacts": str(model)})
            if has_files(workspace.output_data_dir):
                output = artifact_uri(self.request, "output.tar.gz")
                archive = make_tarball(workspace.output_data_dir, Path(scratch) / "output.tar.gz")
                storage.upload_file(archive, output, kms_key)
        self.check()

    def fail(self, reason: str) -> None:
        self._end("Failed", "Failed", reason=reason)

    def _end(self, status: str, secondary: str, reason: str | None = None) -> None:
        with self.state_lock:
            self.finish()
            final = [metric.as_metric_data() for metric in self.metrics.final()]
            seconds = elapsed_seconds(self._started)
            ended = now()
            if self.job.training_start_time is None:
                update(self.job, training_start_time=ended)
            self.transition(
                secondary,
                training_job_status=status,
                failure_reason=reason[:FAILURE_LIMIT] if reason else None,
                final_metric_data_list=final or None,
                training_end_time=ended,
                training_time_in_seconds=seconds,
                billable_time_in_seconds=seconds,
            )
        folder = job_folder(self.settings.work_dir, self.name)
        announce(f"training job {self.name} ended {status}{f' ({reason})' if reason else ''}; work folder {folder}")
