"""moto's SageMaker backend, with processing, training and tuning jobs that run (moto creates them Completed and
runs nothing). Jobs stay moto's own objects, so describe works as before; the runner changes their fields."""

from __future__ import annotations

import copy
from typing import Any

from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.models import FakeProcessingJob, FakeTrainingJob, HyperParameterTuningJob, SageMakerModelBackend

from mlops_cli.emulator.jobs import listing, processing, training, tuning
from mlops_cli.emulator.jobs.run import JobRun, now, prepare
from mlops_cli.emulator.jobs.sampling import GRID, Sampler

_PROCESSING_SORT = {"Name": "ProcessingJobName", "CreationTime": "CreationTime", "Status": "ProcessingJobStatus"}
_TRAINING_SORT = {"Name": "TrainingJobName", "CreationTime": "CreationTime", "Status": "TrainingJobStatus"}
_TRIAL_SORT = {
    "Name": "TrainingJobName",
    "CreationTime": "CreationTime",
    "Status": "TrainingJobStatus",
    "FinalObjectiveMetricValue": "FinalHyperParameterTuningJobObjectiveMetric.Value",
}


class JobsBackend(SageMakerModelBackend):
    """Installed in place of moto's backend class (see `api`); moto builds one per account and region."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.job_runs: dict[tuple[str, str], JobRun] = {}  # (kind, name) -> its run, ended or not

    @property
    def _url_module(self) -> Any:
        # moto derives "<module>.urls" from the backend class's module; this class lives outside moto.
        import moto.sagemaker.urls

        return moto.sagemaker.urls

    def reset(self) -> None:
        for run in list(self.job_runs.values()):
            run.abandon()  # the server's reset hook has usually done this already, and waited for them
        super().reset()

    def _run(self, kind: str, name: str) -> JobRun | None:
        return self.job_runs.get((kind, name))

    def _start(self, run: JobRun) -> None:
        self.job_runs[(run.kind, run.name)] = run
        run.start()

    # processing jobs

    def start_processing_job(self, request: dict[str, Any]) -> FakeProcessingJob:
        name = request["ProcessingJobName"]
        if name in self.processing_jobs:
            arn = self.processing_jobs[name].arn
            raise ResourceInUseException(
                f"Job name must be unique within an AWS account and region, and a processing job with this name "
                f"already exists ({arn})."
            )
        if problem := processing.validate(request):
            raise ValidationError(problem)
        job = FakeProcessingJob(
            app_specification=request["AppSpecification"],
            experiment_config=request.get("ExperimentConfig"),  # type: ignore[arg-type]
            network_config=request.get("NetworkConfig"),  # type: ignore[arg-type]
            processing_inputs=request.get("ProcessingInputs"),  # type: ignore[arg-type]
            processing_job_name=name,
            processing_output_config=request.get("ProcessingOutputConfig"),  # type: ignore[arg-type]
            account_id=self.account_id,
            region_name=self.region_name,
            role_arn=request["RoleArn"],
            tags=request.get("Tags"),  # type: ignore[arg-type]
            stopping_condition=request.get("StoppingCondition"),  # type: ignore[arg-type]
        )
        # moto drops ProcessingResources and Environment, and creates the job Completed.
        prepare(
            job,
            processing_job_status="InProgress",
            processing_resources=request["ProcessingResources"],
            environment=request.get("Environment"),
            processing_start_time=None,
            processing_end_time=None,
            failure_reason=None,
            exit_message=None,
        )
        self.processing_jobs[name] = job
        self._start(processing.ProcessingRun(job, request, self.account_id, self.region_name))
        return job

    def stop_processing_job(self, processing_job_name: str) -> None:
        job = self.processing_jobs.get(processing_job_name)
        if job is None:
            arn = FakeProcessingJob.arn_formatter(processing_job_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find processing job '{arn}'.")
        _stop(job, "processing_job_status", "processing job", self._run("processing job", processing_job_name))

    def processing_job_summaries(self, request: dict[str, Any]) -> dict[str, Any]:
        summaries = [
            {
                "ProcessingJobName": job.processing_job_name,
                "ProcessingJobArn": job.arn,
                "CreationTime": job.creation_time,
                "ProcessingEndTime": job.processing_end_time,
                "LastModifiedTime": job.last_modified_time,
                "ProcessingJobStatus": job.processing_job_status,
                "FailureReason": getattr(job, "failure_reason", None),
                "ExitMessage": getattr(job, "exit_message", None),
            }
            for job in list(self.processing_jobs.values())  # a snapshot: runner threads add jobs meanwhile
        ]
        return _listed(
            summaries,
            request,
            key="ProcessingJobSummaries",
            name_key="ProcessingJobName",
            status_key="ProcessingJobStatus",
            sort_keys=_PROCESSING_SORT,
        )

    # training jobs

    def start_training_job(self, request: dict[str, Any], tuning_job_arn: str | None = None) -> FakeTrainingJob:
        name = request["TrainingJobName"]
        if name in self.training_jobs:
            raise ResourceInUseException(
                f"Training job names must be unique within an AWS account and region, and a training job with this "
                f"name already exists ({self.training_jobs[name].arn})"
            )
        job = FakeTrainingJob(
            account_id=self.account_id,
            region_name=self.region_name,
            training_job_name=name,
            hyper_parameters=request.get("HyperParameters"),  # type: ignore[arg-type]
            # a copy: moto overwrites the MetricDefinitions of the dict it is given
            algorithm_specification=copy.deepcopy(request["AlgorithmSpecification"]),
            role_arn=request["RoleArn"],
            input_data_config=request.get("InputDataConfig"),  # type: ignore[arg-type]
            output_data_config=request["OutputDataConfig"],
            resource_config=request["ResourceConfig"],
            vpc_config=request.get("VpcConfig"),  # type: ignore[arg-type]
            stopping_condition=request.get("StoppingCondition"),  # type: ignore[arg-type]
            tags=request.get("Tags"),  # type: ignore[arg-type]
            enable_network_isolation=request.get("EnableNetworkIsolation", False),
            enable_inter_container_traffic_encryption=request.get("EnableInterContainerTrafficEncryption", False),
            enable_managed_spot_training=request.get("EnableManagedSpotTraining", False),
            checkpoint_config=request.get("CheckpointConfig"),  # type: ignore[arg-type]
            debug_hook_config=request.get("DebugHookConfig"),  # type: ignore[arg-type]
            debug_rule_configurations=request.get("DebugRuleConfigurations"),  # type: ignore[arg-type]
            tensor_board_output_config=request.get("TensorBoardOutputConfig"),  # type: ignore[arg-type]
            experiment_config=request.get("ExperimentConfig"),  # type: ignore[arg-type]
        )
        # moto's job is Completed at once, with made-up metrics and a model that is never written.
        prepare(
            job,
            algorithm_specification=request["AlgorithmSpecification"],
            environment=request.get("Environment"),
            retry_strategy=request.get("RetryStrategy"),
            tuning_job_arn=tuning_job_arn,
            training_job_status="InProgress",
            secondary_status="Starting",
            secondary_status_transitions=training.first_transition(job.creation_time),
            model_artifacts=None,
            final_metric_data_list=None,
            failure_reason=None,
            training_start_time=None,
            training_end_time=None,
            training_time_in_seconds=None,
            billable_time_in_seconds=None,
        )
        self.training_jobs[name] = job
        self._start(training.TrainingRun(job, request, self.account_id, self.region_name))
        return job

    def stop_training_job(self, training_job_name: str) -> None:
        job = self.training_jobs.get(training_job_name)
        if job is None:
            arn = FakeTrainingJob.arn_formatter(training_job_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find training job '{arn}'.")
        _stop(job, "training_job_status", "training job", self._run("training job", training_job_name))

    def training_job_summaries(self, request: dict[str, Any]) -> dict[str, Any]:
        summaries = [
            {
                "TrainingJobName": job.training_job_name,
                "TrainingJobArn": job.arn,
                "CreationTime": job.creation_time,
                "TrainingEndTime": job.training_end_time,
                "LastModifiedTime": job.last_modified_time,
                "TrainingJobStatus": job.training_job_status,
                "SecondaryStatus": job.secondary_status,
            }
            for job in list(self.training_jobs.values())
        ]
        return _listed(
            summaries,
            request,
            key="TrainingJobSummaries",
            name_key="TrainingJobName",
            status_key="TrainingJobStatus",
            sort_keys=_TRAINING_SORT,
            status_after_page=True,  # as the ListTrainingJobs reference documents
        )

    # tuning jobs

    def start_tuning_job(self, request: dict[str, Any]) -> HyperParameterTuningJob:
        name = request["HyperParameterTuningJobName"]
        config = request["HyperParameterTuningJobConfig"]
        definition = request.get("TrainingJobDefinition")
        if definition is None:
            raise ValidationError("The emulator runs tuning jobs that have one TrainingJobDefinition.")
        sampler = _sampler(name, config, definition)
        job = HyperParameterTuningJob(  # raises ResourceInUse for a name in use
            hyper_parameter_tuning_job_name=name,
            hyper_parameter_tuning_job_config=config,
            region_name=self.region_name,
            account_id=self.account_id,
            training_job_definition=definition,
            training_job_definitions=None,
            warm_start_config=request.get("WarmStartConfig"),
            tags=request.get("Tags"),
            autotune=request.get("Autotune"),
        )
        # moto's job is Completed at once with a made-up best training job.
        prepare(
            job,
            hyper_parameter_tuning_job_status="InProgress",
            hyper_parameter_tuning_end_time=None,
            training_job_status_counters=tuning.status_counters([], tuning.objective_of(config, definition))[0],
            objective_status_counters={"Succeeded": 0, "Pending": 0, "Failed": 0},
            best_training_job=None,
            OverallBestTrainingJob=None,
            failure_reason=None,
            tuning_job_completion_details=None,
            consumed_resources=None,
            last_modified_time=now(),
            emulator_trials=[],
        )
        self.hyper_parameter_tuning_jobs[name] = job
        self._start(tuning.TuningRun(job, self, sampler))
        return job

    def stop_hyper_parameter_tuning_job(self, hyper_parameter_tuning_job_name: str) -> None:
        job = self._tuning_job(hyper_parameter_tuning_job_name)
        run = self._run("tuning job", hyper_parameter_tuning_job_name)
        _stop(job, "hyper_parameter_tuning_job_status", "tuning job", run)

    def list_training_jobs_for_hyper_parameter_tuning_job(self, request: dict[str, Any]) -> dict[str, Any]:
        name = request["HyperParameterTuningJobName"]
        job = self._tuning_job(name)
        objective = tuning.objective_of(job.hyper_parameter_tuning_job_config, job.training_job_definition or {})
        summaries = [trial.summary(name, objective) for trial in list(tuning.trials_of(job))]
        return _listed(
            summaries,
            request,
            key="TrainingJobSummaries",
            name_key="TrainingJobName",
            status_key="TrainingJobStatus",
            sort_keys=_TRIAL_SORT,
            default_sort="Name",
        )

    def _tuning_job(self, name: str) -> HyperParameterTuningJob:
        job = self.hyper_parameter_tuning_jobs.get(name)
        if job is None:
            raise ResourceNotFound(message=f"Could not find hyper parameter tuning job '{name}'.")
        return job


def _stop(job: Any, status_field: str, kind: str, run: JobRun | None) -> None:
    """Stopping -> (the runner stops the workers) -> Stopped. Only an InProgress job can be stopped."""
    if getattr(job, status_field) == "Stopping":
        return
    if run is None or not run.stop():
        status = getattr(job, status_field)
        raise ValidationError(f"The request was rejected because the {kind} is in status {status}.")


def _sampler(name: str, config: dict[str, Any], definition: dict[str, Any]) -> Sampler:
    """The tuning job's sampler, after the checks AWS makes when the job is created."""
    strategy = config.get("Strategy", "Bayesian")
    limits = config.get("ResourceLimits") or {}
    if strategy != GRID and not limits.get("MaxNumberOfTrainingJobs"):
        raise ValidationError("ResourceLimits.MaxNumberOfTrainingJobs is required (the emulator has no default).")
    objective = tuning.objective_of(config, definition)
    metrics = [item["Name"] for item in definition["AlgorithmSpecification"].get("MetricDefinitions") or []]
    if objective.metric not in metrics:
        raise ValidationError(
            f"The objective metric {objective.metric!r} is not defined in the training job definition's "
            f"MetricDefinitions ({metrics})."
        )
    try:
        sampler = Sampler(tuning.ranges_of(config, definition), strategy, seed=name)
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"Invalid ParameterRanges: {exc}") from exc
    tuning.trials_to_run(config, sampler)  # refuses a Grid limit other than the grid's size
    return sampler


def _listed(summaries: list[dict[str, Any]], request: dict[str, Any], **how: Any) -> dict[str, Any]:
    try:
        return listing.page_of(summaries, request, **how)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
