"""One pipeline execution, run by a daemon thread: its steps in dependency order, each by the real job it creates
through the emulator's own SageMaker API (so the job runner executes it), one step at a time."""

from __future__ import annotations

import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError
from moto.core.utils import utcnow

from mlops_cli.emulator.jobs.runtime import announce, runtime
from mlops_cli.emulator.pipelines import conditions
from mlops_cli.emulator.pipelines.definition import Definition, Step, order, parse
from mlops_cli.emulator.pipelines.resolve import Context, ResolveError, parse_json, resolve

POLL_SECONDS = 0.3
_ENDED_JOB = ("Completed", "Failed", "Stopped")
_NOT_NAME = re.compile(r"[^a-zA-Z0-9-]+")


class StepFailed(Exception):
    pass


class Abandoned(Exception):
    pass


@dataclass
class StepRecord:
    name: str
    type: str
    start_time: datetime = field(default_factory=utcnow)
    status: str = "Executing"
    end_time: datetime | None = None
    failure_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "StepName": self.name,
            "StepDisplayName": self.name,
            "StartTime": self.start_time,
            "StepStatus": self.status,
            "AttemptCount": 1,
            "Metadata": self.metadata,
        }
        if self.end_time is not None:
            summary["EndTime"] = self.end_time
        if self.failure_reason:
            summary["FailureReason"] = self.failure_reason
        return summary


def job_name(execution_id: str, step: str) -> str:
    return f"pipelines-{execution_id}-{_NOT_NAME.sub('-', step)}"[:63].rstrip("-")


def typed_parameters(definition: Definition, given: list[dict[str, str]] | None) -> dict[str, Any]:
    values = definition.defaults()
    for item in given or []:
        values[item["Name"]] = item.get("Value")
    for name, spec in definition.parameters.items():
        value, kind = values.get(name), spec.get("Type", "String")
        if value is None or not isinstance(value, str):
            continue
        if kind == "Integer":
            values[name] = int(value)
        elif kind == "Float":
            values[name] = float(value)
        elif kind == "Boolean":
            values[name] = value.lower() == "true"
    return values


class ExecutionRun:
    """Holds the moto execution object and changes its status fields as the steps run."""

    def __init__(self, execution: Any, pipeline_name: str, account_id: str, region: str) -> None:
        self.execution = execution
        self.name = execution.arn
        self.pipeline_name = pipeline_name
        self.execution_id = execution.arn.rsplit("/", 1)[1]
        self.account_id, self.region = account_id, region
        self.steps: list[StepRecord] = []
        self.stop_requested = threading.Event()
        self.abandoned = False
        self.current_job: tuple[str, str] | None = None  # (kind, name)
        self._thread = threading.Thread(target=self._main, name=f"pipeline:{self.execution_id}", daemon=True)
        execution.pipeline_execution_status = "Executing"
        execution.pipeline_execution_failure_reason = None
        execution.emulator_run = self

    # lifecycle

    def start(self) -> None:
        runtime.register(self)
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def abandon(self) -> None:
        self.abandoned = True
        self.stop_requested.set()

    def stop(self) -> bool:
        if self.execution.pipeline_execution_status != "Executing":
            return False
        self._set_status("Stopping")
        self.stop_requested.set()
        if self.current_job is not None:
            self._stop_job(*self.current_job)
        return True

    def _set_status(self, status: str, reason: str | None = None) -> None:
        self.execution.pipeline_execution_status = status
        self.execution.pipeline_execution_failure_reason = reason
        self.execution.last_modified_time = utcnow()

    @property
    def sagemaker(self) -> Any:
        return runtime.client("sagemaker", self.account_id, self.region)

    # the run

    def _main(self) -> None:
        announce(f"pipeline {self.pipeline_name} execution {self.execution_id} started")
        try:
            self._run_all()
            if self.stop_requested.is_set():
                self._set_status("Stopped")
            elif self.execution.pipeline_execution_status == "Executing":
                self._set_status("Succeeded")
        except Abandoned:
            announce(f"pipeline execution {self.execution_id} abandoned (the emulator was reset)")
            return
        except StepFailed as failure:
            self._set_status("Stopped" if self.stop_requested.is_set() else "Failed", str(failure))
        except Exception as exc:
            announce(f"pipeline execution {self.execution_id}: the runner failed:\n{traceback.format_exc()}")
            self._set_status("Failed", f"InternalServerError: the emulator could not run the execution: {exc}")
        finally:
            runtime.unregister(self)
        status = self.execution.pipeline_execution_status
        reason = self.execution.pipeline_execution_failure_reason
        announce(f"pipeline execution {self.execution_id} {status}" + (f": {reason}" if reason else ""))

    def _run_all(self) -> None:
        definition = parse(self.execution.pipeline_definition_for_execution)
        context = Context(
            parameters=typed_parameters(definition, self.execution.pipeline_parameters),
            execution={
                "PipelineExecutionId": self.execution_id,
                "PipelineExecutionArn": self.execution.arn,
                "PipelineName": self.pipeline_name,
                "StartDateTime": self.execution.start_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            },
            property_file=lambda step, name: self._property_file(definition, context, step, name),
        )
        skipped: set[str] = set()
        for name in order(definition):
            step = definition.steps[name]
            if name in skipped or step.depends_on & skipped:
                skipped.add(name)
                continue
            if self.stop_requested.is_set():
                self._check()
                return
            self._run_step(step, context, skipped)

    def _check(self) -> None:
        if self.abandoned:
            raise Abandoned

    def _run_step(self, step: Step, context: Context, skipped: set[str]) -> None:
        record = StepRecord(step.name, step.type)
        self.steps.append(record)
        announce(f"pipeline execution {self.execution_id}: step {step.name} ({step.type}) started")
        try:
            outcome = self._execute(step, context, record)
        except (ResolveError, conditions.ConditionError) as exc:
            outcome = f"ClientError: {exc}"
        except StepFailed as failure:
            outcome = str(failure)
        self._check()
        record.end_time = utcnow()
        if outcome is None:
            record.status = "Succeeded"
            announce(f"pipeline execution {self.execution_id}: step {step.name} Succeeded")
            if step.type == "Condition":
                chosen = record.metadata["Condition"]["Outcome"] == "True"
                others = [s.name for s in _branch(context, step, not chosen)]
                skipped.update(others)
            return
        stopped = self.stop_requested.is_set()
        record.status = "Stopped" if stopped else "Failed"
        record.failure_reason = outcome
        announce(f"pipeline execution {self.execution_id}: step {step.name} {record.status}: {outcome}")
        raise StepFailed(f"Step failure: One or multiple steps failed. {step.name}: {outcome}")

    def _execute(self, step: Step, context: Context, record: StepRecord) -> str | None:
        """Run the step; None when it succeeded, else its failure reason."""
        arguments = resolve(_without_branches(step), context)
        if step.type == "Processing":
            return self._job(step.name, "processing", arguments, context, record)
        if step.type == "Training":
            return self._job(step.name, "training", arguments, context, record)
        if step.type == "Condition":
            outcome = conditions.all_hold(arguments.get("Conditions") or [])
            record.metadata = {"Condition": {"Outcome": "True" if outcome else "False"}}
            return None
        if step.type == "Fail":
            message = str(arguments.get("ErrorMessage", ""))
            record.metadata = {"Fail": {"ErrorMessage": message}}
            return message or "Fail step"
        if step.type == "RegisterModel":
            try:
                request = coerce(self.sagemaker, "CreateModelPackage", arguments)
                arn = self.sagemaker.create_model_package(**request)["ModelPackageArn"]
            except (ClientError, ParamValidationError) as exc:
                return f"ClientError: {exc}"
            record.metadata = {"RegisterModel": {"Arn": arn}}
            context.steps[step.name] = {"ModelPackageArn": arn}
            return None
        return f"ClientError: the emulator does not run {step.type} steps"

    def _job(self, step: str, kind: str, arguments: dict[str, Any], context: Context, record: StepRecord) -> str | None:
        name = job_name(self.execution_id, step)
        client = self.sagemaker
        try:
            if kind == "processing":
                request = coerce(client, "CreateProcessingJob", {"ProcessingJobName": name, **arguments})
                arn = client.create_processing_job(**request)["ProcessingJobArn"]
                record.metadata = {"ProcessingJob": {"Arn": arn}}
            else:
                request = coerce(client, "CreateTrainingJob", {"TrainingJobName": name, **arguments})
                arn = client.create_training_job(**request)["TrainingJobArn"]
                record.metadata = {"TrainingJob": {"Arn": arn}}
        except (ClientError, ParamValidationError) as exc:
            return f"ClientError: {exc}"
        self.current_job = (kind, name)
        try:
            described = self._wait(kind, name)
        finally:
            self.current_job = None
        described.pop("ResponseMetadata", None)
        context.steps[step] = described
        status = described["ProcessingJobStatus" if kind == "processing" else "TrainingJobStatus"]
        if status == "Completed":
            return None
        return str(described.get("FailureReason") or f"the {kind} job ended {status}")

    def _wait(self, kind: str, name: str) -> dict[str, Any]:
        client = self.sagemaker
        while True:
            self._check()
            if kind == "processing":
                described = dict(client.describe_processing_job(ProcessingJobName=name))
                status = described["ProcessingJobStatus"]
            else:
                described = dict(client.describe_training_job(TrainingJobName=name))
                status = described["TrainingJobStatus"]
            if status in _ENDED_JOB:
                return described
            time.sleep(POLL_SECONDS)

    def _stop_job(self, kind: str, name: str) -> None:
        try:
            if kind == "processing":
                self.sagemaker.stop_processing_job(ProcessingJobName=name)
            else:
                self.sagemaker.stop_training_job(TrainingJobName=name)
        except Exception as exc:  # the job may have ended meanwhile
            announce(f"pipeline execution {self.execution_id}: could not stop {kind} job {name}: {exc}")

    def _property_file(self, definition: Definition, context: Context, step: str, name: str) -> Any:
        files = definition.steps[step].raw.get("PropertyFiles") or []
        spec = next((item for item in files if item.get("PropertyFileName") == name), None)
        if spec is None:
            raise ResolveError(f"step {step!r} has no property file {name!r}")
        outputs = (context.steps.get(step) or {}).get("ProcessingOutputConfig", {}).get("Outputs") or []
        output = next((item for item in outputs if item.get("OutputName") == spec.get("OutputName")), None)
        if output is None:
            raise ResolveError(f"step {step!r} has no output {spec.get('OutputName')!r} for property file {name!r}")
        uri = output["S3Output"]["S3Uri"].rstrip("/") + "/" + str(spec.get("FilePath", "")).lstrip("/")
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        s3 = runtime.client("s3", self.account_id, self.region)
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise ResolveError(f"property file {name!r} of step {step!r} ({uri}) cannot be read: {exc}") from exc
        return parse_json(body.decode())


def coerce(client: Any, operation: str, request: dict[str, Any]) -> dict[str, Any]:
    """Numbers and booleans (typed pipeline parameters) where the API wants strings, as their text."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    return dict(_coerced(shape, request))


def _coerced(shape: Any, value: Any) -> Any:
    if shape is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        return {key: _coerced(shape.members.get(key), item) for key, item in value.items()}
    if shape.type_name == "list" and isinstance(value, list):
        return [_coerced(shape.member, item) for item in value]
    if shape.type_name == "map" and isinstance(value, dict):
        return {key: _coerced(shape.value, item) for key, item in value.items()}
    if shape.type_name == "string" and isinstance(value, bool):
        return "true" if value else "false"
    if shape.type_name == "string" and isinstance(value, int | float):
        return str(value)
    return value


def _without_branches(step: Step) -> dict[str, Any]:
    if step.type != "Condition":
        return step.arguments
    return {key: value for key, value in step.arguments.items() if key not in ("IfSteps", "ElseSteps")}


def _branch(context: Context, step: Step, if_steps: bool) -> list[Step]:
    raw = step.arguments.get("IfSteps" if if_steps else "ElseSteps") or []
    return [Step(item["Name"], item.get("Type", ""), {}, item) for item in raw]
