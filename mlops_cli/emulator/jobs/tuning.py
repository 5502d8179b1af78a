"""Hyperparameter tuning jobs: up to MaxNumberOfTrainingJobs real training jobs ("trials"), at most
MaxParallelTrainingJobs at a time, each with the static hyperparameters plus values drawn from the ranges
(see `sampling` for how they are drawn). The objective metric of each trial is read from its FinalMetricDataList,
and the best trial is the one with the highest (Maximize) or lowest (Minimize) value among completed trials."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from moto.sagemaker.exceptions import ValidationError

from mlops_cli.emulator.jobs import toolkit
from mlops_cli.emulator.jobs.metrics import final_metric
from mlops_cli.emulator.jobs.run import JobRun, elapsed_seconds, now, update
from mlops_cli.emulator.jobs.runtime import announce
from mlops_cli.emulator.jobs.sampling import Sampler

POLL_INTERVAL = 0.2  # seconds between looks at the running trials
_ENDED = ("Completed", "Failed", "Stopped")
# Fields of a TrainingJobDefinition that a trial's CreateTrainingJob request takes as they are.
_COPIED = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)


class TrialLauncher(Protocol):
    def start_training_job(self, request: dict[str, Any], tuning_job_arn: str | None = None) -> Any: ...

    def stop_training_job(self, training_job_name: str) -> None: ...


@dataclass(frozen=True)
class Objective:
    metric: str
    type: str  # Maximize | Minimize

    def better(self, value: float, than: float) -> bool:
        return value > than if self.type == "Maximize" else value < than


@dataclass(frozen=True)
class Trial:
    job: Any  # moto's FakeTrainingJob
    tuned: dict[str, str]

    @property
    def status(self) -> str:
        return str(self.job.training_job_status)

    def objective_value(self, objective: Objective) -> float | None:
        if self.status != "Completed":
            return None
        return final_metric(self.job.final_metric_data_list, objective.metric)

    def objective_status(self, objective: Objective) -> str:
        if self.status not in _ENDED:
            return "Pending"
        return "Succeeded" if self.objective_value(objective) is not None else "Failed"

    def summary(self, tuning_job_name: str, objective: Objective) -> dict[str, Any]:
        """A HyperParameterTrainingJobSummary."""
        job = self.job
        summary: dict[str, Any] = {
            "TrainingJobName": job.training_job_name,
            "TrainingJobArn": job.arn,
            "TuningJobName": tuning_job_name,
            "CreationTime": job.creation_time,
            "TrainingStartTime": job.training_start_time,
            "TrainingEndTime": job.training_end_time,
            "TrainingJobStatus": self.status,
            "TunedHyperParameters": self.tuned,
            "FailureReason": job.failure_reason,
            "ObjectiveStatus": self.objective_status(objective),
        }
        value = self.objective_value(objective)
        if value is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective.type,
                "MetricName": objective.metric,
                "Value": value,
            }
        return {key: value for key, value in summary.items() if value is not None}


def trials_of(job: Any) -> list[Trial]:
    """The trials of a tuning job, kept on moto's job object so they can be listed after the run."""
    trials: list[Trial] = job.emulator_trials
    return trials


def objective_of(config: dict[str, Any], definition: dict[str, Any]) -> Objective:
    objective = definition.get("TuningObjective") or config["HyperParameterTuningJobObjective"]
    return Objective(objective["MetricName"], objective["Type"])


def ranges_of(config: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    return definition.get("HyperParameterRanges") or config.get("ParameterRanges") or {}


def trial_name(tuning_job_name: str, number: int) -> str:
    """`<tuning-job>-<3-digit n>-<8 hex>`, as AWS names trials (at most 32 + 13 characters)."""
    return f"{tuning_job_name}-{number:03d}-{uuid.uuid4().hex[:8]}"


def status_counters(trials: list[Trial], objective: Objective) -> tuple[dict[str, int], dict[str, int]]:
    """TrainingJobStatusCounters and ObjectiveStatusCounters."""
    statuses = [trial.status for trial in trials]
    training = {
        "Completed": statuses.count("Completed"),
        "InProgress": sum(status not in _ENDED for status in statuses),
        "RetryableError": 0,
        "NonRetryableError": statuses.count("Failed"),
        "Stopped": statuses.count("Stopped"),
    }
    objectives = [trial.objective_status(objective) for trial in trials]
    counters = {name: objectives.count(name) for name in ("Succeeded", "Pending", "Failed")}
    return training, counters


def best_trial(trials: list[Trial], objective: Objective) -> Trial | None:
    """The completed trial with the best objective value (the earliest one of equals)."""
    best: Trial | None = None
    best_value = 0.0
    for trial in trials:
        value = trial.objective_value(objective)
        if value is not None and (best is None or objective.better(value, best_value)):
            best, best_value = trial, value
    return best


def trials_to_run(config: dict[str, Any], sampler: Sampler) -> int:
    """How many trials the tuning job runs, with the check CreateHyperParameterTuningJob makes on
    ResourceLimits.MaxNumberOfTrainingJobs. Grid runs every combination of its categorical ranges, so SageMaker
    takes the grid's size when the limit is left out and refuses a limit of any other value (not the smaller of
    the two). Raises ValidationError."""
    wanted = (config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs")
    grid = sampler.grid_size
    if grid is None:
        return int(wanted or 1)
    if wanted is not None and wanted != grid:
        raise ValidationError(
            f"With the Grid strategy, MaxNumberOfTrainingJobs ({wanted}) must equal the number of distinct "
            f"combinations of the categorical parameter ranges ({grid}). Leave MaxNumberOfTrainingJobs out, or set "
            f"it to {grid}."
        )
    return grid


class TuningRun(JobRun):
    kind = "tuning job"

    def __init__(self, job: Any, launcher: TrialLauncher, sampler: Sampler) -> None:
        super().__init__(job.hyper_parameter_tuning_job_name, job)
        self.launcher = launcher
        self.sampler = sampler
        self.config: dict[str, Any] = job.hyper_parameter_tuning_job_config
        self.definition: dict[str, Any] = job.training_job_definition
        self.objective = objective_of(self.config, self.definition)
        limits = self.config["ResourceLimits"]
        self.total = trials_to_run(self.config, sampler)
        self.parallel = int(limits.get("MaxParallelTrainingJobs") or 1)
        self.target = (self.config.get("TuningJobCompletionCriteria") or {}).get("TargetObjectiveMetricValue")
        self.trials = trials_of(job)

    def run(self) -> None:
        started = time.monotonic()
        announce(f"tuning job {self.name} started: {self.total} trial(s), {self.parallel} at a time")
        while True:
            self.check()
            self._refresh()
            running = [trial for trial in self.trials if trial.status not in _ENDED]
            if self.stop_requested.is_set():
                self._stop_trials(running)
                break
            more = len(self.trials) < self.total and not self._target_reached()
            if more and len(running) < self.parallel:
                if not self._launch():
                    self.total = len(self.trials)  # the grid has no more combinations
                continue
            if not running and not more:
                break
            self.stop_requested.wait(POLL_INTERVAL)
        self._end(started)

    def mark_stopping(self) -> None:
        update(self.job, last_modified_time=now(), hyper_parameter_tuning_job_status="Stopping")

    def _launch(self) -> bool:
        tuned = self.sampler.next()
        if tuned is None:
            return False
        static = self.definition.get("StaticHyperParameters") or {}
        request: dict[str, Any] = {key: self.definition[key] for key in _COPIED if key in self.definition}
        request["TrainingJobName"] = trial_name(self.name, len(self.trials) + 1)
        request["HyperParameters"] = {**static, **tuned, toolkit.TUNING_OBJECTIVE: self.objective.metric}
        if self.job.tags:
            request["Tags"] = self.job.tags
        job = self.launcher.start_training_job(request, tuning_job_arn=self.job.arn)
        self.trials.append(Trial(job, tuned))
        return True

    def _stop_trials(self, running: list[Trial]) -> None:
        self._stop_running(running)
        while any(trial.status not in _ENDED for trial in running):
            self.check()
            time.sleep(POLL_INTERVAL)

    def _target_reached(self) -> bool:
        best = best_trial(self.trials, self.objective)
        if self.target is None or best is None:
            return False
        value = best.objective_value(self.objective)
        return value is not None and not self.objective.better(float(self.target), value)  # as good or better

    def _refresh(self) -> None:
        training, objectives = status_counters(self.trials, self.objective)
        best = best_trial(self.trials, self.objective)
        update(
            self.job,
            training_job_status_counters=training,
            objective_status_counters=objectives,
            best_training_job=best.summary(self.name, self.objective) if best else None,
            last_modified_time=now(),
        )

    def _stop_running(self, trials: list[Trial]) -> None:
        for trial in trials:
            if trial.status == "InProgress":
                with contextlib.suppress(ValidationError):  # it ended meanwhile
                    self.launcher.stop_training_job(trial.job.training_job_name)

    def fail(self, reason: str) -> None:
        self._stop_running(self.trials)
        self._finish("Failed", reason)

    def _end(self, started: float) -> None:
        self._refresh()
        if self.stop_requested.is_set():
            status, reason = "Stopped", None
        elif self.trials and all(trial.status == "Failed" for trial in self.trials):
            first = self.trials[0].job.failure_reason
            status, reason = (
                "Failed",
                f"All {len(self.trials)} training jobs failed. The first one failed with: {first}",
            )
        else:
            status, reason = "Completed", None
        update(self.job, consumed_resources={"RuntimeInSeconds": elapsed_seconds(started)})
        self._finish(status, reason)

    def _finish(self, status: str, reason: str | None) -> None:
        with self.state_lock:
            self.finish()
            ended = now()
            update(
                self.job,
                failure_reason=reason[:1024] if reason else None,
                hyper_parameter_tuning_end_time=ended,
                last_modified_time=ended,
                hyper_parameter_tuning_job_status=status,  # last: a client that sees the end sees the results too
            )
        best = self.job.best_training_job
        outcome = f"best {best['TrainingJobName']}" if best else "no best trial"
        announce(f"tuning job {self.name} ended {status} after {len(self.trials)} trial(s), {outcome}")
