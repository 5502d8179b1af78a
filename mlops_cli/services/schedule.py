"""Scheduled preprocessing, the AWS way: a SageMaker Pipeline (see `pipeline_definition`) started by an EventBridge
Scheduler schedule and, with `on_new_data`, by an EventBridge rule on the bucket's Object Created events under the
dataset's raw prefix. And the plain-cron way (`cron_line`) for users who prefer it.

Every resource converges with `Control`s (AWS is the state; running `apply` twice changes nothing). Each starter
(scheduler, rule) has its own role that may only start this one pipeline; the pipeline's role may only run the
project's jobs and pass the execution role to SageMaker.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
import sys
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.images import sklearn_image_uri
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value
from mlops_cli.config.models import Config, Schedule
from mlops_cli.config.schedule_expressions import CronExpression, is_time_zone, parse_cron, rate_minutes
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services import pipeline_definition as pd
from mlops_cli.services import preprocess, register, train
from mlops_cli.services.code import bundle_files, processing_files, sourcedir_tarball, upload_bundle
from mlops_cli.services.convergence import Control, ControlResult, converge, same_document
from mlops_cli.services.roles import ensure_execution_role, role_controls, service_trust
from mlops_cli.services.security import job_encryption_key

STAGE = "schedule"
POLICY_NAME = "mlops-schedule"
RULE_TARGET_ID = "pipeline"
_MISSING = (
    "ResourceNotFoundException",
    "ValidationException",
    "NoSuchEntity",
    "AWS.SimpleQueueService.NonExistentQueue",
)


@dataclass(frozen=True)
class ScheduleNames:
    prefix: str

    @property
    def pipeline(self) -> str:
        return f"{self.prefix}-preprocess"

    @property
    def schedule(self) -> str:
        return f"{self.prefix}-preprocess"

    @property
    def rule(self) -> str:
        return f"{self.prefix}-new-data"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}-schedule-dlq"

    @property
    def pipeline_role(self) -> str:
        return f"{self.prefix}-pipeline"

    @property
    def scheduler_role(self) -> str:
        return f"{self.prefix}-scheduler"

    @property
    def events_role(self) -> str:
        return f"{self.prefix}-events"


def names_of(config: Config) -> ScheduleNames:
    return ScheduleNames(config.names().prefix)


@dataclass
class ApplyResult:
    pipeline: str
    pipeline_arn: str
    schedule: str
    expression: str
    rule: str | None
    controls: list[ControlResult]

    @property
    def changed(self) -> bool:
        return any(c.action != "unchanged" for c in self.controls)


@dataclass
class StepStatus:
    name: str
    status: str
    job: str | None
    started: dt.datetime | None
    ended: dt.datetime | None
    seconds: float | None
    failure_reason: str | None


@dataclass
class ExecutionStatus:
    arn: str
    status: str
    started: dt.datetime | None
    failure_reason: str | None
    steps: list[StepStatus] = field(default_factory=list)


@dataclass
class ScheduleStatus:
    pipeline: str
    pipeline_exists: bool
    schedule: str
    expression: str | None
    timezone: str | None
    state: str | None
    next_runs: list[dt.datetime]
    rule: str | None
    rule_state: str | None
    executions: list[ExecutionStatus]


@dataclass
class DeleteResult:
    deleted: list[str]
    absent: list[str]


def require_schedule(config: Config) -> Schedule:
    if config.preprocess.schedule is None:
        raise UsageError(
            "preprocess.schedule is not set in the config.",
            hint="Add preprocess.schedule (expression: rate(1 day), ...); see the commented example in configs/.",
        )
    return config.preprocess.schedule


def _arns(clients: AwsClients, config: Config) -> dict[str, str]:
    p, r, a, n = clients.partition, clients.region, clients.account_id, names_of(config)
    return {
        "pipeline": f"arn:{p}:sagemaker:{r}:{a}:pipeline/{n.pipeline}",
        "dlq": f"arn:{p}:sqs:{r}:{a}:{n.dlq}",
        "execution_role": f"arn:{p}:iam::{a}:role/{config.names(a).execution_role}",
    }


# --- policies (pure) -----------------------------------------------------------------------------------------------


def starter_policy(pipeline_arn: str, dlq_arn: str | None = None) -> dict[str, Any]:
    """What the scheduler's and the rule's roles may do: start this one pipeline (and, for the scheduler, put a
    failed start on the dead-letter queue, which Scheduler does with the schedule's role)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "StartThisPipeline",
            "Effect": "Allow",
            "Action": "sagemaker:StartPipelineExecution",
            "Resource": pipeline_arn,
        }
    ]
    if dlq_arn:
        statements.append({"Sid": "DeadLetters", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": dlq_arn})
    return {"Version": "2012-10-17", "Statement": statements}


def pipeline_policy(
    clients: AwsClients, config: Config, execution_role_arn: str, key_arn: str | None
) -> dict[str, Any]:
    """The pipeline's own role: run, watch and stop its steps' jobs (SageMaker names them `pipelines-…`; the
    project's own prefix is allowed too), register into the project's group, read the evaluation report, and pass
    the execution role to SageMaker only."""
    p, r, a = clients.partition, clients.region, clients.account_id
    prefix = config.names(a).prefix
    jobs = [
        f"arn:{p}:sagemaker:{r}:{a}:{kind}/{name}*"
        for kind in ("processing-job", "training-job")
        for name in ("pipelines-", f"{prefix}-")
    ]
    bucket = config.names(a).data_bucket
    statements: list[dict[str, Any]] = [
        {
            "Sid": "RunStepJobs",
            "Effect": "Allow",
            "Action": [
                "sagemaker:CreateProcessingJob",
                "sagemaker:DescribeProcessingJob",
                "sagemaker:StopProcessingJob",
                "sagemaker:CreateTrainingJob",
                "sagemaker:DescribeTrainingJob",
                "sagemaker:StopTrainingJob",
                "sagemaker:AddTags",
            ],
            "Resource": jobs,
        },
        {
            "Sid": "RegisterModels",
            "Effect": "Allow",
            "Action": ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:AddTags"],
            "Resource": [
                f"arn:{p}:sagemaker:{r}:{a}:model-package-group/{register.group_name(config)}",
                f"arn:{p}:sagemaker:{r}:{a}:model-package/{register.group_name(config)}/*",
            ],
        },
        {
            "Sid": "ReadEvaluationReports",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": f"arn:{p}:s3:::{bucket}/models/*",
        },
        {
            "Sid": "PassExecutionRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": execution_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
    ]
    if key_arn:
        statements.append({"Sid": "ProjectKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key_arn})
    return {"Version": "2012-10-17", "Statement": statements}


def _role_controls(
    clients: AwsClients, config: Config, label: str, name: str, service: str, policy: dict[str, Any]
) -> list[Control]:
    return role_controls(
        clients,
        label=label,
        name=name,
        trust=service_trust(service, clients.account_id),
        policy_name=POLICY_NAME,
        policy=policy,
        description=f"{label} of mlops scheduled preprocessing; generated from the project config",
        tags=config.standard_tags(STAGE),
    )


# --- apply ---------------------------------------------------------------------------------------------------------


def pipeline_inputs(clients: AwsClients, config: Config) -> pd.PipelineInputs:
    """Upload the code the steps run (content-addressed: nothing is sent twice) and converge the execution role."""
    image = sklearn_image_uri(clients.region, config.preprocess.framework_version)
    key_arn = job_encryption_key(clients, config)
    role = ensure_execution_role(clients, config, key_arn)
    inputs = pd.PipelineInputs(
        image=image,
        role_arn=role.arn,
        key_arn=key_arn,
        preprocess_code=upload_bundle(
            clients, config, processing_files(preprocess.preprocess_scripts(config))
        ).s3_prefix,
    )
    if config.preprocess.schedule and config.preprocess.schedule.continuous_training:
        sourcedir = "sourcedir.tar.gz"
        training = upload_bundle(clients, config, train.training_sourcedir(config))
        inputs.train_submit_directory = training.s3_prefix + sourcedir
        inputs.evaluate_code = upload_bundle(clients, config, bundle_files(config, ("evaluate.py",))).s3_prefix
        handler = register.serving_scripts(config)
        if handler is not None:  # served apart from model.tar.gz: the model's container downloads it
            bundle = {sourcedir: sourcedir_tarball(handler.files)}
            inputs.serving_submit_directory = upload_bundle(clients, config, bundle).s3_prefix + sourcedir
            inputs.serving_program = handler.entry_point
    return inputs


def schedule_target(clients: AwsClients, config: Config, schedule: Schedule) -> dict[str, Any]:
    arns, n = _arns(clients, config), names_of(config)
    return {
        "Arn": arns["pipeline"],
        "RoleArn": f"arn:{clients.partition}:iam::{clients.account_id}:role/{n.scheduler_role}",
        "SageMakerPipelineParameters": {
            "PipelineParameterList": [
                {"Name": pd.INPUT_PREFIX, "Value": pd.default_input_prefix(config, clients.account_id)},
                {"Name": pd.BATCH_DATE, "Value": "all"},
            ]
        },
        "RetryPolicy": {
            "MaximumEventAgeInSeconds": schedule.max_event_age_minutes * 60,
            "MaximumRetryAttempts": schedule.retry_attempts,
        },
        "DeadLetterConfig": {"Arn": arns["dlq"]},
    }


def schedule_request(clients: AwsClients, config: Config) -> dict[str, Any]:
    """The CreateSchedule/UpdateSchedule request (UpdateSchedule replaces every setting, so it is the same)."""
    schedule = require_schedule(config)
    window: dict[str, Any] = {"Mode": "OFF"}
    if schedule.flexible_window_minutes:
        window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": schedule.flexible_window_minutes}
    return {
        "Name": names_of(config).schedule,
        "ScheduleExpression": schedule.expression,
        "ScheduleExpressionTimezone": schedule.timezone,
        "FlexibleTimeWindow": window,
        "Target": schedule_target(clients, config, schedule),
        "State": "ENABLED" if schedule.enabled else "DISABLED",
        "Description": f"Preprocess {config.dataset.name} ({config.project}-{config.environment}); managed by mlops",
    }


def rule_pattern(config: Config, account: str) -> dict[str, Any]:
    return {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [config.names(account).data_bucket]},
            "object": {"key": [{"prefix": config.dataset.raw_prefix}]},
        },
    }


def apply(clients: AwsClients, config: Config) -> ApplyResult:
    """Converge the pipeline, its roles, the dead-letter queue, the schedule and (with on_new_data) the rule."""
    schedule = require_schedule(config)
    inputs = pipeline_inputs(clients, config)
    definition = pd.build_definition(clients, config, inputs)  # validated: a broken one raises before any write
    n, arns = names_of(config), _arns(clients, config)
    account = clients.account_id
    controls: list[Control] = []
    controls += _role_controls(
        clients,
        config,
        "pipeline role",
        n.pipeline_role,
        "sagemaker.amazonaws.com",
        pipeline_policy(clients, config, inputs.role_arn, inputs.key_arn),
    )
    controls += _pipeline_controls(clients, config, definition)
    controls += _dlq_controls(clients, config)
    controls += _role_controls(
        clients,
        config,
        "scheduler role",
        n.scheduler_role,
        "scheduler.amazonaws.com",
        starter_policy(arns["pipeline"], arns["dlq"]),
    )
    controls += _schedule_controls(clients, config)
    if schedule.on_new_data:
        controls += _role_controls(
            clients, config, "events role", n.events_role, "events.amazonaws.com", starter_policy(arns["pipeline"])
        )
        controls += _rule_controls(clients, config, schedule, account)
    results = converge(controls)
    return ApplyResult(
        pipeline=n.pipeline,
        pipeline_arn=arns["pipeline"],
        schedule=n.schedule,
        expression=schedule.expression,
        rule=n.rule if schedule.on_new_data else None,
        controls=results,
    )


def _pipeline_controls(clients: AwsClients, config: Config, definition: dict[str, Any]) -> list[Control]:
    sm, n = clients.client("sagemaker"), names_of(config)
    role_arn = f"arn:{clients.partition}:iam::{clients.account_id}:role/{n.pipeline_role}"
    desired = {"definition": definition, "role": role_arn}

    def describe() -> dict[str, Any] | None:
        return get_or_none(f"reading pipeline {n.pipeline}", _MISSING, sm.describe_pipeline, PipelineName=n.pipeline)

    def read() -> Any:
        found = describe()
        if found is None:
            return None
        return {"definition": json.loads(found["PipelineDefinition"]), "role": found.get("RoleArn")}

    def write() -> None:
        body = json.dumps(definition, sort_keys=True)
        description = f"Preprocess {config.dataset.name}: generated by mlops preprocess schedule apply"
        with aws_errors(f"writing pipeline {n.pipeline}"):
            if describe() is None:
                sm.create_pipeline(
                    PipelineName=n.pipeline,
                    PipelineDefinition=body,
                    PipelineDescription=description,
                    RoleArn=role_arn,
                    ParallelismConfiguration={"MaxParallelExecutionSteps": 2},
                    Tags=as_key_value(config.standard_tags(STAGE)),
                )
            else:
                sm.update_pipeline(
                    PipelineName=n.pipeline, PipelineDefinition=body, PipelineDescription=description, RoleArn=role_arn
                )

    return [Control("pipeline", desired, read, write, matches=same_document)]


def _dlq_controls(clients: AwsClients, config: Config) -> list[Control]:
    sqs, n = clients.client("sqs"), names_of(config)
    desired = {"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": "1209600"}  # encrypted, kept 14 days

    def url() -> str | None:
        found = get_or_none(f"finding queue {n.dlq}", _MISSING, sqs.get_queue_url, QueueName=n.dlq)
        return None if found is None else str(found["QueueUrl"])

    def read() -> Any:
        queue = url()
        if queue is None:
            return None
        with aws_errors(f"reading queue {n.dlq}"):
            attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=list(desired))["Attributes"]
        return {k: attributes.get(k) for k in desired}

    def write() -> None:
        with aws_errors(f"writing queue {n.dlq}"):
            queue = url()
            if queue is None:
                sqs.create_queue(QueueName=n.dlq, Attributes=desired, tags=config.standard_tags(STAGE))
            else:
                sqs.set_queue_attributes(QueueUrl=queue, Attributes=desired)

    return [Control("dead-letter queue", desired, read, write)]


def _comparable_schedule(found: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "Name",
        "ScheduleExpression",
        "ScheduleExpressionTimezone",
        "FlexibleTimeWindow",
        "Target",
        "State",
        "Description",
    )
    return {k: found.get(k) for k in keys}


def _schedule_controls(clients: AwsClients, config: Config) -> list[Control]:
    scheduler, n = clients.client("scheduler"), names_of(config)
    request = schedule_request(clients, config)

    def get() -> dict[str, Any] | None:
        return get_or_none(f"reading schedule {n.schedule}", _MISSING, scheduler.get_schedule, Name=n.schedule)

    def read() -> Any:
        found = get()
        return None if found is None else _comparable_schedule(found)

    def write() -> None:
        with aws_errors(f"writing schedule {n.schedule}"):
            if get() is None:
                scheduler.create_schedule(**request)
            else:
                scheduler.update_schedule(**request)

    return [Control("schedule", _comparable_schedule(request), read, write, matches=same_document)]


def _rule_controls(clients: AwsClients, config: Config, schedule: Schedule, account: str) -> list[Control]:
    events, n, arns = clients.client("events"), names_of(config), _arns(clients, config)
    pattern = rule_pattern(config, account)
    state = "ENABLED" if schedule.enabled else "DISABLED"
    desired_rule = {"EventPattern": pattern, "State": state}
    target = {
        "Id": RULE_TARGET_ID,
        "Arn": arns["pipeline"],
        "RoleArn": f"arn:{clients.partition}:iam::{account}:role/{n.events_role}",
        "SageMakerPipelineParameters": {
            # the rule cannot pass the object's key (see the contracts, section 6): each run reads the raw prefix
            "PipelineParameterList": [
                {"Name": pd.INPUT_PREFIX, "Value": pd.default_input_prefix(config, account)},
                {"Name": pd.BATCH_DATE, "Value": "all"},
            ]
        },
    }

    def read_rule() -> Any:
        found = get_or_none(f"reading rule {n.rule}", _MISSING, events.describe_rule, Name=n.rule)
        if found is None:
            return None
        return {"EventPattern": json.loads(found.get("EventPattern") or "{}"), "State": found.get("State")}

    def write_rule() -> None:
        with aws_errors(f"writing rule {n.rule}"):
            events.put_rule(
                Name=n.rule,
                EventPattern=json.dumps(pattern),
                State=state,
                Description=f"New {config.dataset.name} batches start preprocessing; managed by mlops",
                Tags=as_key_value(config.standard_tags(STAGE)),
            )

    def read_targets() -> Any:
        found = get_or_none(f"reading targets of {n.rule}", _MISSING, events.list_targets_by_rule, Rule=n.rule)
        if found is None:
            return None
        return next((t for t in found.get("Targets", []) if t["Id"] == RULE_TARGET_ID), None)

    def write_targets() -> None:
        with aws_errors(f"setting the target of rule {n.rule}"):
            events.put_targets(Rule=n.rule, Targets=[target])

    return [
        Control("rule", desired_rule, read_rule, write_rule, matches=same_document),
        Control("rule target", target, read_targets, write_targets, matches=same_document, parent="rule"),
    ]


# --- operate -------------------------------------------------------------------------------------------------------


def run_now(clients: AwsClients, config: Config) -> str:
    """Start an execution now (over every raw batch); returns its ARN."""
    n = names_of(config)
    sm = clients.client("sagemaker")
    if get_or_none(f"reading pipeline {n.pipeline}", _MISSING, sm.describe_pipeline, PipelineName=n.pipeline) is None:
        raise PreconditionFailed(
            f"Pipeline {n.pipeline} does not exist.", hint="Run `mlops preprocess schedule apply`."
        )
    with aws_errors(f"starting pipeline {n.pipeline}"):
        found = sm.start_pipeline_execution(
            PipelineName=n.pipeline,
            PipelineExecutionDisplayName=f"manual-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}",
            PipelineParameters=[
                {"Name": pd.INPUT_PREFIX, "Value": pd.default_input_prefix(config, clients.account_id)},
                {"Name": pd.BATCH_DATE, "Value": "all"},
            ],
        )
    return str(found["PipelineExecutionArn"])


def set_enabled(clients: AwsClients, config: Config, enabled: bool) -> dict[str, str]:
    """Pause (DISABLED) or resume (ENABLED) the schedule and the rule; returns each one's new state."""
    n = names_of(config)
    scheduler, events = clients.client("scheduler"), clients.client("events")
    state = "ENABLED" if enabled else "DISABLED"
    found = get_or_none(f"reading schedule {n.schedule}", _MISSING, scheduler.get_schedule, Name=n.schedule)
    if found is None:
        raise PreconditionFailed(
            f"Schedule {n.schedule} does not exist.", hint="Run `mlops preprocess schedule apply`."
        )
    changed = {"schedule": state}
    if found.get("State") != state:
        request = {k: found[k] for k in ("Name", "ScheduleExpression", "FlexibleTimeWindow", "Target") if k in found}
        for key in ("ScheduleExpressionTimezone", "Description", "StartDate", "EndDate", "GroupName"):
            if found.get(key):
                request[key] = found[key]
        with aws_errors(f"setting schedule {n.schedule} {state}"):
            scheduler.update_schedule(**request, State=state)
    rule = get_or_none(f"reading rule {n.rule}", _MISSING, events.describe_rule, Name=n.rule)
    if rule is not None:
        changed["rule"] = state
        if rule.get("State") != state:
            with aws_errors(f"setting rule {n.rule} {state}"):
                (events.enable_rule if enabled else events.disable_rule)(Name=n.rule)
    return changed


def status(clients: AwsClients, config: Config, *, executions: int = 5, runs: int = 3) -> ScheduleStatus:
    n = names_of(config)
    sm, scheduler, events = clients.client("sagemaker"), clients.client("scheduler"), clients.client("events")
    pipeline = get_or_none(f"reading pipeline {n.pipeline}", _MISSING, sm.describe_pipeline, PipelineName=n.pipeline)
    found = get_or_none(f"reading schedule {n.schedule}", _MISSING, scheduler.get_schedule, Name=n.schedule) or {}
    rule = get_or_none(f"reading rule {n.rule}", _MISSING, events.describe_rule, Name=n.rule)
    expression, zone = found.get("ScheduleExpression"), found.get("ScheduleExpressionTimezone") or "UTC"
    upcoming: list[dt.datetime] = []
    if expression and found.get("State") == "ENABLED":
        upcoming = next_runs(expression, zone, dt.datetime.now(dt.UTC), runs, created=found.get("CreationDate"))
    return ScheduleStatus(
        pipeline=n.pipeline,
        pipeline_exists=pipeline is not None,
        schedule=n.schedule,
        expression=expression,
        timezone=zone if found else None,
        state=found.get("State"),
        next_runs=upcoming,
        rule=n.rule if rule else None,
        rule_state=rule.get("State") if rule else None,
        executions=_executions(clients, n.pipeline, executions) if pipeline else [],
    )


def _job_name(metadata: dict[str, Any]) -> str | None:
    for key in ("ProcessingJob", "TrainingJob", "RegisterModel", "Model"):
        if arn := metadata.get(key, {}).get("Arn"):
            return str(arn).rsplit("/", 1)[-1]
    return None


def _executions(clients: AwsClients, pipeline: str, limit: int) -> list[ExecutionStatus]:
    sm = clients.client("sagemaker")
    with aws_errors(f"listing executions of {pipeline}"):
        summaries = sm.list_pipeline_executions(
            PipelineName=pipeline, SortBy="CreationTime", SortOrder="Descending", MaxResults=limit
        )["PipelineExecutionSummaries"]
    result = []
    for summary in summaries:
        arn = summary["PipelineExecutionArn"]
        with aws_errors(f"listing the steps of {arn}"):
            steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn).get("PipelineExecutionSteps", [])
        execution = ExecutionStatus(
            arn=arn,
            status=summary.get("PipelineExecutionStatus", ""),
            started=summary.get("StartTime"),
            failure_reason=summary.get("PipelineExecutionFailureReason"),
        )
        for step in steps:
            started, ended = step.get("StartTime"), step.get("EndTime")
            execution.steps.append(
                StepStatus(
                    name=step.get("StepName", ""),
                    status=step.get("StepStatus", ""),
                    job=_job_name(step.get("Metadata", {})),
                    started=started,
                    ended=ended,
                    seconds=(ended - started).total_seconds() if started and ended else None,
                    failure_reason=step.get("FailureReason"),
                )
            )
        result.append(execution)
    return result


def delete(clients: AwsClients, config: Config) -> DeleteResult:
    """Delete the schedule, the rule and its target, the pipeline, the roles and the queue. Absent ones are fine."""
    n = names_of(config)
    result = DeleteResult(deleted=[], absent=[])

    def attempt(label: str, call: Any, **kwargs: Any) -> None:
        done = get_or_none(f"deleting {label}", _MISSING, call, **kwargs)
        (result.deleted if done is not None else result.absent).append(label)

    scheduler, events, sm = clients.client("scheduler"), clients.client("events"), clients.client("sagemaker")
    attempt(f"schedule {n.schedule}", scheduler.delete_schedule, Name=n.schedule)
    if get_or_none(f"reading rule {n.rule}", _MISSING, events.describe_rule, Name=n.rule) is not None:
        with aws_errors(f"deleting rule {n.rule}"):
            events.remove_targets(Rule=n.rule, Ids=[RULE_TARGET_ID])
            events.delete_rule(Name=n.rule)
        result.deleted.append(f"rule {n.rule}")
    else:
        result.absent.append(f"rule {n.rule}")
    attempt(f"pipeline {n.pipeline}", sm.delete_pipeline, PipelineName=n.pipeline)
    iam = clients.client("iam")
    for role in (n.scheduler_role, n.events_role, n.pipeline_role):
        get_or_none(
            f"deleting the policy of {role}", _MISSING, iam.delete_role_policy, RoleName=role, PolicyName=POLICY_NAME
        )
        attempt(f"role {role}", iam.delete_role, RoleName=role)
    sqs = clients.client("sqs")
    queue = get_or_none(f"finding queue {n.dlq}", _MISSING, sqs.get_queue_url, QueueName=n.dlq)
    if queue is None:
        result.absent.append(f"queue {n.dlq}")
    else:
        attempt(f"queue {n.dlq}", sqs.delete_queue, QueueUrl=queue["QueueUrl"])
    return result


# --- next run times (computed locally from the expression) ---------------------------------------------------------


def next_runs(
    expression: str, timezone: str, after: dt.datetime, count: int, *, created: dt.datetime | None = None
) -> list[dt.datetime]:
    """The next `count` times (UTC) the expression fires after `after`. Rates count from the schedule's creation
    (or from `after`). Not computed (an empty list): cron expressions with L, W or #, and what AWS holds but a
    config may not say (at(...), a rate over a year, a zone this machine lacks), so `schedule status` never fails
    on a schedule changed outside mlops."""
    try:
        if expression.startswith("rate("):
            period = dt.timedelta(minutes=rate_minutes(expression))
            start = created or after
            if start.tzinfo is None:
                start = start.replace(tzinfo=dt.UTC)
            steps = max(0, int((after - start) / period) + 1)
            return [start + period * (steps + i) for i in range(count)]
        cron = parse_cron(expression)
        if any(values is None for values in cron.fields) or not is_time_zone(timezone):
            return []
        return _cron_times(cron, zoneinfo.ZoneInfo(timezone), after, count)
    except (ValueError, OverflowError):
        return []


def _cron_times(cron: CronExpression, zone: zoneinfo.ZoneInfo, after: dt.datetime, count: int) -> list[dt.datetime]:
    minutes, hours, days, months, weekdays, years = (sorted(f or ()) for f in cron.fields)
    local = after.astimezone(zone)
    found: list[dt.datetime] = []
    day = local.date()
    for _ in range(366 * 5):  # five years at most
        eventbridge_weekday = (day.weekday() + 1) % 7 + 1  # 1 = SUN ... 7 = SAT
        if (
            day.year in years
            and day.month in months
            and (eventbridge_weekday in weekdays if cron.day_of_month_any else day.day in days)
        ):
            for hour in hours:
                for minute in minutes:
                    moment = dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)
                    if moment > local:
                        found.append(moment.astimezone(dt.UTC))
                        if len(found) == count:
                            return found
        day += dt.timedelta(days=1)
    return found


# --- plain cron ----------------------------------------------------------------------------------------------------


def crontab_schedule(expression: str) -> str:
    """The five crontab fields for an EventBridge expression (the crontab runs in the machine's time zone)."""
    if expression.startswith("rate("):
        period = rate_minutes(expression)
        if period < 60 and 60 % period == 0:
            return f"*/{period} * * * *" if period > 1 else "* * * * *"
        if period % 60 == 0 and period < 1440 and 24 % (period // 60) == 0:
            return f"0 */{period // 60} * * *" if period > 60 else "0 * * * *"
        if period % 1440 == 0:
            return f"0 0 */{period // 1440} * *" if period > 1440 else "0 0 * * *"
        raise UsageError(f"{expression} has no crontab equivalent.", hint="Use a cron(...) expression instead.")
    minute, hour, dom, month, dow, year = expression.removeprefix("cron(").removesuffix(")").split()
    if year not in ("*", "?") or any(c in f"{dom}{dow}" for c in "LW#"):
        raise UsageError(f"{expression} has no crontab equivalent (years, L, W and # are EventBridge-only).")

    def weekday(token: str) -> str:
        # crontab: 0 = SUN; EventBridge: 1 = SUN (ASCII digits only: isdigit() alone also takes other scripts')
        return str(int(token) - 1) if token.isascii() and token.isdigit() else token

    if dow not in ("*", "?"):
        dow = ",".join("-".join(weekday(t) for t in part.split("-")) for part in dow.split(","))
    return " ".join(("*" if f == "?" else f) for f in (minute, hour, dom, month, dow))


def _installed_mlops() -> str:
    """An absolute path to the `mlops` being run (cron's PATH is short): the entry point next to this Python, else
    the one on PATH."""
    beside = Path(sys.executable).parent / "mlops"
    if beside.is_file():
        return str(beside)
    return shutil.which("mlops") or "mlops"


def cron_line(
    config: Config, config_path: Path, *, executable: str | None = None, state_dir: Path | None = None
) -> str:
    """A crontab line that runs `mlops preprocess run --wait --json` for this config under `flock -n` (a run still
    going makes the next one exit non-zero instead of piling up), appending its output to a log file; the line's
    exit status is mlops's own, so cron (and MAILTO) sees failures."""
    schedule = require_schedule(config)
    mlops = executable or _installed_mlops()
    folder = state_dir or Path.home() / ".local" / "state" / "mlops"
    stem = f"{config.project}-{config.environment}-preprocess"
    lock, log = folder / f"{stem}.lock", folder / f"{stem}.log"
    command = (
        f"mkdir -p {shlex.quote(str(folder))} && flock -n {shlex.quote(str(lock))} "
        f"{shlex.quote(mlops)} preprocess run --wait -c {shlex.quote(str(config_path.resolve()))} --json "
        f">> {shlex.quote(str(log))} 2>&1"
    )
    return f"{crontab_schedule(schedule.expression)} {command}"
