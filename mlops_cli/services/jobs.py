"""SageMaker jobs of every kind (processing, training, tuning): describe, wait, follow logs, list, stop."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from mlops_cli.aws.errors import Outage, aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import from_key_value
from mlops_cli.errors import MlopsError, OperationFailed, PreconditionFailed, WaitTimeout

TERMINAL = ("Completed", "Failed", "Stopped")
# A job's tag: the digest of everything its result depends on (the input objects with their versions, the code, the
# settings). `mlops pipeline run` compares it with what a new job would read, and starts one only when they differ.
INPUT_DIGEST_TAG = "mlops:input-digest"


class Kind(StrEnum):
    PROCESSING = "processing"
    TRAINING = "training"
    TUNING = "tuning"


@dataclass(frozen=True)
class _Api:
    noun: str
    describe: str
    name_param: str
    status_key: str
    stop: str
    list: str
    list_key: str
    log_group: str | None


_APIS = {
    Kind.PROCESSING: _Api(
        "ProcessingJob",
        "describe_processing_job",
        "ProcessingJobName",
        "ProcessingJobStatus",
        "stop_processing_job",
        "list_processing_jobs",
        "ProcessingJobSummaries",
        "/aws/sagemaker/ProcessingJobs",
    ),
    Kind.TRAINING: _Api(
        "TrainingJob",
        "describe_training_job",
        "TrainingJobName",
        "TrainingJobStatus",
        "stop_training_job",
        "list_training_jobs",
        "TrainingJobSummaries",
        "/aws/sagemaker/TrainingJobs",
    ),
    Kind.TUNING: _Api(
        "HyperParameterTuningJob",
        "describe_hyper_parameter_tuning_job",
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobStatus",
        "stop_hyper_parameter_tuning_job",
        "list_hyper_parameter_tuning_jobs",
        "HyperParameterTuningJobSummaries",
        None,
    ),
}


@dataclass
class JobState:
    kind: Kind
    name: str
    status: str
    secondary_status: str | None = None
    failure_reason: str | None = None
    exit_message: str | None = None
    created: datetime | None = None
    ended: datetime | None = None
    description: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def elapsed_seconds(self) -> float | None:
        if self.created is None:
            return None
        end = self.ended or datetime.now(self.created.tzinfo)
        return (end - self.created).total_seconds()


@dataclass
class LogLine:
    stream: str
    timestamp: int
    message: str


def decode_hyperparameter(value: str) -> str:
    """A hyperparameter as the script sees it (the toolkit json.loads each value, keeping the raw text on failure)."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else json.dumps(decoded)


def user_hyperparameters(state: JobState) -> dict[str, str]:
    """A training job's own hyperparameters, decoded, without the toolkit's reserved `sagemaker_*` and `_*` ones."""
    given = state.description.get("HyperParameters", {})
    return {k: decode_hyperparameter(v) for k, v in given.items() if not k.startswith(("sagemaker_", "_"))}


def input_digest(inputs: Any) -> str:
    """The value of INPUT_DIGEST_TAG: SHA-256 of the canonical JSON of `inputs`."""
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


_ARN_KEYS = {
    Kind.PROCESSING: "ProcessingJobArn",
    Kind.TRAINING: "TrainingJobArn",
    Kind.TUNING: "HyperParameterTuningJobArn",
}


def job_tags(clients: AwsClients, state: JobState) -> dict[str, str]:
    """A job's tags (Describe* does not return them)."""
    arn = state.description.get(_ARN_KEYS[state.kind])
    if not arn:
        return {}
    with aws_errors(f"reading the tags of {state.kind} job {state.name}"):
        pages = clients.client("sagemaker").get_paginator("list_tags").paginate(ResourceArn=arn)
        return from_key_value([tag for page in pages for tag in page.get("Tags", [])])


def describe_any(clients: AwsClients, name: str, kinds: tuple[Kind, ...]) -> JobState:
    """The job named `name`, whichever of `kinds` it is."""
    for kind in kinds:
        try:
            return describe_job(clients, kind, name)
        except PreconditionFailed:
            continue
    raise PreconditionFailed(f"There is no {' or '.join(kinds)} job named {name}.")


def describe_job(clients: AwsClients, kind: Kind, name: str) -> JobState:
    api = _APIS[kind]
    sagemaker = clients.client("sagemaker")
    found = get_or_none(
        f"describing {kind} job {name}",
        ("ValidationException", "ResourceNotFound"),
        getattr(sagemaker, api.describe),
        **{api.name_param: name},
    )
    if found is None:
        raise PreconditionFailed(f"There is no {kind} job named {name}.", hint="List them with `mlops … list`.")
    return JobState(
        kind=kind,
        name=name,
        status=found[api.status_key],
        secondary_status=found.get("SecondaryStatus"),
        failure_reason=found.get("FailureReason"),
        exit_message=found.get("ExitMessage"),
        created=found.get("CreationTime"),
        ended=found.get("ProcessingEndTime")
        or found.get("TrainingEndTime")
        or found.get("HyperParameterTuningEndTime"),
        description=found,
    )


def list_jobs(clients: AwsClients, kind: Kind, name_contains: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest jobs whose name contains `name_contains`, newest first."""
    api = _APIS[kind]
    with aws_errors(f"listing {kind} jobs"):
        paginator = clients.client("sagemaker").get_paginator(api.list)
        pages = paginator.paginate(
            NameContains=name_contains,
            SortBy="CreationTime",
            SortOrder="Descending",
            PaginationConfig={"MaxItems": limit},
        )
        return [summary for page in pages for summary in page[api.list_key]]


def _summary_name(kind: Kind, summary: dict[str, Any]) -> str:
    return str(summary[_APIS[kind].name_param])


def _summary_status(kind: Kind, summary: dict[str, Any]) -> str:
    return str(summary[_APIS[kind].status_key])


def newest_completed(
    clients: AwsClients, kind: Kind, prefix: str, limit: int = 50, *, tags: dict[str, str] | None = None
) -> JobState | None:
    """The newest completed job whose name starts with `prefix` (among the newest `limit`), or None. With `tags`,
    only a job that carries them counts (a name prefix cut short can be another project's or environment's)."""
    for summary in list_jobs(clients, kind, prefix, limit=limit):
        if _summary_name(kind, summary).startswith(prefix) and _summary_status(kind, summary) == "Completed":
            state = describe_job(clients, kind, _summary_name(kind, summary))
            if tags is None or tags.items() <= job_tags(clients, state).items():
                return state
    return None


@dataclass
class Existing:
    """What a run stage finds before it starts a job: the newest completed one (up to date when it carries the
    digest a new job would), and a job still running with that digest (the same work: wait for it)."""

    newest: JobState | None = None
    up_to_date: bool = False
    running: JobState | None = None


def find_existing(clients: AwsClients, kind: Kind, prefix: str, digest: str, limit: int = 50) -> Existing:
    """Among the newest `limit` jobs named `prefix…`: the newest completed one, whether it carries `digest`, and the
    newest InProgress one that carries it (started by a run that was interrupted, or that goes on elsewhere)."""
    found = Existing()
    for summary in list_jobs(clients, kind, prefix, limit=limit):
        name, status = _summary_name(kind, summary), _summary_status(kind, summary)
        if not name.startswith(prefix) or status not in ("Completed", "InProgress"):
            continue
        if status == "Completed" and found.newest is not None:
            continue
        if status == "InProgress" and found.running is not None:
            continue
        state = describe_job(clients, kind, name)
        matches = job_tags(clients, state).get(INPUT_DIGEST_TAG) == digest
        if status == "Completed":
            found.newest, found.up_to_date = state, matches
            if matches:
                return found  # up to date: whatever runs does not matter
        elif matches:
            found.running = state
    return found


def stop_job(clients: AwsClients, kind: Kind, name: str) -> JobState:
    state = describe_job(clients, kind, name)
    if not state.terminal and state.status != "Stopping":
        with aws_errors(f"stopping {kind} job {name}"):
            getattr(clients.client("sagemaker"), _APIS[kind].stop)(**{_APIS[kind].name_param: name})
    return describe_job(clients, kind, name)


class LogFollower:
    """New CloudWatch log lines of a job, across all its hosts' streams, each line delivered once."""

    def __init__(self, clients: AwsClients, kind: Kind, name: str) -> None:
        self.logs = clients.client("logs")
        self.group = _APIS[kind].log_group
        self.name = name
        self._tokens: dict[str, str | None] = {}

    def poll(self) -> list[LogLine]:
        if self.group is None:
            return []
        streams = get_or_none(
            f"listing log streams of {self.name}",
            ("ResourceNotFoundException",),
            self.logs.describe_log_streams,
            logGroupName=self.group,
            logStreamNamePrefix=f"{self.name}/",
        )
        lines: list[LogLine] = []
        for stream in (streams or {}).get("logStreams", []):
            lines += self._read(stream["logStreamName"])
        return sorted(lines, key=lambda line: line.timestamp)

    def _read(self, stream: str) -> list[LogLine]:
        lines: list[LogLine] = []
        while True:
            kwargs: dict[str, Any] = {"logGroupName": self.group, "logStreamName": stream, "startFromHead": True}
            if token := self._tokens.get(stream):
                kwargs["nextToken"] = token
            with aws_errors(f"reading log stream {stream}"):
                page = self.logs.get_log_events(**kwargs)
            events = page.get("events", [])
            lines += [LogLine(stream, event["timestamp"], event["message"]) for event in events]
            # the forward token stays the same once the end of the stream is reached
            done = page.get("nextForwardToken") in (None, token)
            self._tokens[stream] = page.get("nextForwardToken")
            if done or not events:
                return lines


Observer = Callable[[JobState, list[LogLine]], None]
_GROUP = {Kind.PROCESSING: "preprocess", Kind.TRAINING: "train", Kind.TUNING: "train"}  # for the hints


def wait_job(
    clients: AwsClients,
    kind: Kind,
    name: str,
    *,
    observe: Observer,
    timeout: float | None = None,
    follow_logs: bool = True,
    poll_seconds: float = 1.0,
    on_outage: Callable[[float, MlopsError], None] | None = None,
) -> JobState:
    """Poll until the job ends, handing every state and new log line to `observe`. Raises WaitTimeout after
    `timeout` seconds (the job goes on). A short outage (AWS unreachable, throttling, 5xx) does not end the wait:
    polling goes on, `on_outage(seconds_down, error)` is told, and it gives up after `Outage`'s patience."""
    follower = LogFollower(clients, kind, name) if follow_logs else None
    deadline = None if timeout is None else time.monotonic() + timeout
    group = _GROUP[kind]
    outage = Outage(
        notify=on_outage,
        deadline=deadline,
        give_up_hint=f"The job goes on in AWS: see `mlops {group} status {name}` once AWS answers again.",
    )
    while True:
        state = outage.call(describe_job, clients, kind, name)
        lines = outage.call(follower.poll) if follower else []
        observe(state, lines)
        if state.terminal:
            if follower:  # the last lines can land just after the status changes
                observe(state, outage.call(follower.poll))
            return state
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise WaitTimeout(
                f"{kind.capitalize()} job {name} is still {state.status} after {timeout:.0f} s; it goes on in AWS.",
                hint=f"Follow it with `mlops {group} logs {name} --follow`, or see `mlops {group} status {name}`.",
            )
        time.sleep(poll_seconds if remaining is None else min(poll_seconds, remaining))


def raise_if_failed(state: JobState) -> None:
    if state.status == "Failed":
        raise OperationFailed(
            f"{state.kind.capitalize()} job {state.name} failed: {state.failure_reason or 'no reason given'}"
        )
    if state.status == "Stopped":
        raise OperationFailed(f"{state.kind.capitalize()} job {state.name} was stopped.")
