"""The SageMaker operations the job runner answers, wired into moto as reversible patches.

- The backend: `sagemaker_backends` builds `JobsBackend` instead of moto's class (it does so lazily per account and
  region, so the swap also survives /moto-api/reset).
- Create operations: moto's response methods pass only some request fields on (ProcessingResources, Environment,
  RetryStrategy are lost); these pass the whole parsed request.
- List operations: moto pages before it filters and ignores SortBy/SortOrder; these filter, sort, then page.
- Operations moto lacks: StopTrainingJob, StopHyperParameterTuningJob,
  ListTrainingJobsForHyperParameterTuningJob.
Describe and StopProcessingJob stay moto's: they read the job objects, and call the backend's methods.
"""

from __future__ import annotations

from typing import Any, cast

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from mlops_cli.emulator.extensions.patching import Patch, add, replace
from mlops_cli.emulator.jobs.backend import JobsBackend


def _backend(response: SageMakerResponse) -> JobsBackend:
    return cast(JobsBackend, response.sagemaker_backend)


def _request(response: SageMakerResponse) -> dict[str, Any]:
    # The request as botocore's model parses it (automated_parameter_parsing): every field, nested as sent.
    return dict(response.params)


def create_processing_job(self: SageMakerResponse) -> ActionResult:
    job = _backend(self).start_processing_job(_request(self))
    return ActionResult({"ProcessingJobArn": job.arn})


def list_processing_jobs(self: SageMakerResponse) -> ActionResult:
    return ActionResult(_backend(self).processing_job_summaries(_request(self)))


def create_training_job(self: SageMakerResponse) -> ActionResult:
    job = _backend(self).start_training_job(_request(self))
    return ActionResult({"TrainingJobArn": job.arn})


def stop_training_job(self: SageMakerResponse) -> EmptyResult:
    _backend(self).stop_training_job(self._get_param("TrainingJobName"))
    return EmptyResult()


def list_training_jobs(self: SageMakerResponse) -> ActionResult:
    return ActionResult(_backend(self).training_job_summaries(_request(self)))


def create_hyper_parameter_tuning_job(self: SageMakerResponse) -> ActionResult:
    job = _backend(self).start_tuning_job(_request(self))
    return ActionResult({"HyperParameterTuningJobArn": job.arn})


def stop_hyper_parameter_tuning_job(self: SageMakerResponse) -> EmptyResult:
    _backend(self).stop_hyper_parameter_tuning_job(self._get_param("HyperParameterTuningJobName"))
    return EmptyResult()


def list_training_jobs_for_hyper_parameter_tuning_job(self: SageMakerResponse) -> ActionResult:
    return ActionResult(_backend(self).list_training_jobs_for_hyper_parameter_tuning_job(_request(self)))


class BackendSwap:
    """`sagemaker_backends` builds JobsBackend instead of moto's class, and forgets the backends it built before
    (there are none before the first SageMaker request, which is when the server installs this). Reversible, like
    the `Patch`es next to it."""

    def __init__(self) -> None:
        self.original: type[Any] | None = None

    @property
    def applied(self) -> bool:
        return self.original is not None

    def apply(self) -> bool:
        if self.applied:
            return False
        self.original = sagemaker_backends.backend
        sagemaker_backends.backend = JobsBackend
        sagemaker_backends.clear()
        return True

    def revert(self) -> bool:
        if self.original is None:
            return False
        sagemaker_backends.backend = self.original
        sagemaker_backends.clear()
        self.original = None
        return True


PATCHES: list[Patch | BackendSwap] = [
    BackendSwap(),
    replace(SageMakerResponse, "create_processing_job", create_processing_job),
    replace(SageMakerResponse, "list_processing_jobs", list_processing_jobs),
    replace(SageMakerResponse, "create_training_job", create_training_job),
    replace(SageMakerResponse, "list_training_jobs", list_training_jobs),
    replace(SageMakerResponse, "create_hyper_parameter_tuning_job", create_hyper_parameter_tuning_job),
    add(SageMakerResponse, "stop_training_job", stop_training_job),
    add(SageMakerResponse, "stop_hyper_parameter_tuning_job", stop_hyper_parameter_tuning_job),
    add(
        SageMakerResponse,
        "list_training_jobs_for_hyper_parameter_tuning_job",
        list_training_jobs_for_hyper_parameter_tuning_job,
    ),
]
