"""The SageMaker pipeline operations the emulator answers, as reversible patches of moto's response class: executions
that run (moto marks them Succeeded at once), definitions checked on Create/UpdatePipeline, and the operations moto
lacks (ListPipelineExecutionSteps, StopPipelineExecution)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import get_pipeline_execution_from_arn, get_pipeline_from_name

from mlops_cli.emulator.extensions.patching import Patch, add, replace
from mlops_cli.emulator.pipelines.definition import DefinitionError, parse
from mlops_cli.emulator.pipelines.execution import ExecutionRun


def _validated(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: SageMakerResponse) -> Any:
        text = self._get_param("PipelineDefinition")
        if text:
            try:
                parse(text)
            except DefinitionError as exc:
                raise ValidationError(f"Invalid PipelineDefinition: {exc}") from exc
        return method(self)

    return wrapper


def start_pipeline_execution(self: SageMakerResponse) -> ActionResult:
    backend = self.sagemaker_backend
    name = self._get_param("PipelineName")
    pipeline = get_pipeline_from_name(backend.pipelines, name.rsplit("/", 1)[-1] if name.startswith("arn:") else name)
    response = backend.start_pipeline_execution(
        pipeline.pipeline_name,
        self._get_param("PipelineExecutionDisplayName"),
        self._get_param("PipelineParameters"),
        self._get_param("PipelineExecutionDescription"),
        self._get_param("ParallelismConfiguration"),
        self._get_param("ClientRequestToken"),
    )
    execution = pipeline.pipeline_executions[response["PipelineExecutionArn"]]
    ExecutionRun(execution, pipeline.pipeline_name, backend.account_id, backend.region_name).start()
    return ActionResult(response)


def start_execution(backend: Any, pipeline_name: str, parameters: list[dict[str, str]], source: str) -> str:
    """StartPipelineExecution from inside the server (schedules, rules)."""
    from mlops_cli.emulator.jobs.runtime import announce

    pipeline = get_pipeline_from_name(backend.pipelines, pipeline_name)
    response = backend.start_pipeline_execution(pipeline.pipeline_name, None, parameters, source, None, None)
    execution = pipeline.pipeline_executions[response["PipelineExecutionArn"]]
    announce(f"{source} starts pipeline {pipeline_name} with {parameters}")
    ExecutionRun(execution, pipeline.pipeline_name, backend.account_id, backend.region_name).start()
    return str(response["PipelineExecutionArn"])


def _run_of(self: SageMakerResponse, arn: str) -> ExecutionRun | None:
    execution = get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)
    run = vars(execution).get("emulator_run")
    return run if isinstance(run, ExecutionRun) else None


def _completed(add: Callable[[SageMakerResponse, dict[str, Any]], None]) -> Callable[[Any], Any]:
    """A `build` for moto response methods that return an ActionResult: `add` completes its result dict."""

    def build(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: SageMakerResponse) -> Any:
            result = method(self)
            if isinstance(getattr(result, "result", None), dict):
                add(self, result.result)
            return result

        return wrapper

    return build


def _describe_result(self: SageMakerResponse, result: dict[str, Any]) -> None:
    execution = get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, result["PipelineExecutionArn"])
    reason = execution.pipeline_execution_failure_reason
    if reason:
        result["FailureReason"] = reason
    else:
        result.pop("FailureReason", None)


def _list_result(self: SageMakerResponse, result: dict[str, Any]) -> None:
    for summary in result.get("PipelineExecutionSummaries") or []:
        if summary.get("PipelineExecutionFailureReason") in (None, "None", ""):
            summary.pop("PipelineExecutionFailureReason", None)
    summaries = result.get("PipelineExecutionSummaries") or []
    summaries.sort(key=lambda item: item["StartTime"], reverse=self._get_param("SortOrder") != "Ascending")


def list_pipeline_execution_steps(self: SageMakerResponse) -> ActionResult:
    arn = self._get_param("PipelineExecutionArn")
    run = _run_of(self, arn)
    steps = [record.summary() for record in list(run.steps)] if run else []
    steps.sort(key=lambda item: item["StartTime"], reverse=self._get_param("SortOrder") != "Ascending")
    return ActionResult({"PipelineExecutionSteps": steps})


def stop_pipeline_execution(self: SageMakerResponse) -> ActionResult:
    arn = self._get_param("PipelineExecutionArn")
    run = _run_of(self, arn)
    if run is None or not run.stop():
        execution = get_pipeline_execution_from_arn(self.sagemaker_backend.pipelines, arn)
        status = execution.pipeline_execution_status
        if status not in ("Stopping", "Stopped"):
            raise ValidationError(f"Pipeline execution {arn} is {status} and cannot be stopped.")
    return ActionResult({"PipelineExecutionArn": arn})


PATCHES: list[Patch] = [
    Patch(SageMakerResponse, "create_pipeline", _validated),
    Patch(SageMakerResponse, "update_pipeline", _validated),
    replace(SageMakerResponse, "start_pipeline_execution", start_pipeline_execution),
    Patch(SageMakerResponse, "describe_pipeline_execution", _completed(_describe_result)),
    Patch(SageMakerResponse, "list_pipeline_executions", _completed(_list_result)),
    add(SageMakerResponse, "list_pipeline_execution_steps", list_pipeline_execution_steps),
    add(SageMakerResponse, "stop_pipeline_execution", stop_pipeline_execution),
]
