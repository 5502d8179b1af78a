"""Values AWS or the estimators would refuse, or that crash later, are refused by `config validate` (exit 2, no AWS
call) with the field and the rule they break; shipped configs stay valid and every integer setting has bounds."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.aws.session import AwsClients
from mlops_cli.config.loader import load_config
from mlops_cli.config.models import Config
from mlops_cli.errors import ConfigError, UsageError
from mlops_cli.services import train
from tests.unit.conftest import run
from tests.unit.test_config_loader import MINIMAL

# case -> (--set overrides, extra YAML appended to MINIMAL, text the message must hold)
REFUSED: dict[str, tuple[list[str], str, str]] = {
    # values that crashed later
    "infinite n_estimators": (["train.hyperparameters.n_estimators=.inf"], "", "train.hyperparameters.n_estimators: "),
    "time zone that is a directory": (
        ["preprocess.schedule.expression=rate(1 day)", "preprocess.schedule.timezone=America"],
        "",
        "preprocess.schedule.timezone: 'America' is not an IANA time zone name",
    ),
    "unclosed IPv6 endpoint": (
        ["aws.endpoint_url=http://[::1"],
        "",
        "aws.endpoint_url: 'http://[::1' is not a valid URL",
    ),
    "endpoint port out of range": (["aws.endpoint_url=http://localhost:99999"], "", "aws.endpoint_url:"),
    "region that does not exist": (["aws.region=zz-fake-9"], "", "aws.region: 'zz-fake-9' is not an AWS region"),
    "region with a typo": (["aws.region=eu-west-9"], "", "did you mean"),
    # NaN and infinity anywhere a number goes
    "NaN split": (
        ["preprocess.split.validation=.nan"],
        "",
        "preprocess.split.validation: must be a finite number > 0 and < 0.5",
    ),
    "infinite read timeout": (
        ["aws.timeouts.read=.inf"],
        "",
        "aws.timeouts.read: must be a finite number > 0 and <= 900",
    ),
    "NaN min_metric": (
        ["register.min_metric=.nan"],
        "",
        "register.min_metric: must be a finite number, not NaN or infinity",
    ),
    "NaN column bound": (
        ["dataset.columns.score={type: float, max: .nan}"],
        "",
        "dataset.columns.score.max: must be a finite number, not NaN or infinity",
    ),
    "NaN given as text": (
        ["gateway.throttle.rate=nan"],
        "",
        "gateway.throttle.rate: must be a finite number > 0 and <= 10000",
    ),
    "NaN tuning bound": (
        ["train.tuning.ranges.C={type: continuous, min: .nan, max: 1}"],
        "",
        "train.tuning.ranges.C.min: must be a finite number, not NaN or infinity",
    ),
    # hyperparameters the estimators refuse (the job would start and fail)
    "negative C": (
        ["train.hyperparameters.algorithm=logistic_regression", "train.hyperparameters.C=-1"],
        "",
        "C=-1 must be a number > 0 (LogisticRegression's rule",
    ),
    "NaN C": (
        ["train.hyperparameters.algorithm=logistic_regression", "train.hyperparameters.C=.nan"],
        "",
        "C=nan must be",
    ),
    "NaN C as text": (["train.hyperparameters.C=nan"], "", "C='nan' must be"),
    "zero max_depth": (["train.hyperparameters.max_depth=0"], "", "max_depth=0 must be a whole number >= 1"),
    "fractional max_iter": (["train.hyperparameters.max_iter=2.5"], "", "max_iter=2.5 must be a whole number"),
    "zero learning_rate": (["train.hyperparameters.learning_rate=0"], "", "learning_rate=0 must be a number > 0"),
    "unknown class_weight": (["train.hyperparameters.class_weight=heavy"], "", "must be one of none, balanced"),
    "negative random_state": (
        ["train.hyperparameters.random_state=-1"],
        "",
        "random_state=-1 must be a whole number >= 0",
    ),
    "boolean n_estimators": (["train.hyperparameters.n_estimators=true"], "", "n_estimators=True must be"),
    "tuning range below the estimator's minimum": (
        ["train.tuning.ranges.max_depth={type: integer, min: 0, max: 4}"],
        "",
        "ranges.max_depth: hyperparameter max_depth=0.0 must be a whole number >= 1",
    ),
    "continuous range over a whole-number hyperparameter": (
        ["train.tuning.ranges.min_samples_leaf={type: continuous, min: 1, max: 5}"],
        "",
        "min_samples_leaf is a whole number",
    ),
    "categorical values the estimator refuses": (
        ["train.tuning.ranges.class_weight={type: categorical, values: [none, heavy]}"],
        "",
        "ranges.class_weight: hyperparameter class_weight='heavy' must be one of none, balanced",
    ),
    "unknown algorithm in a range": (
        ["train.tuning.ranges.algorithm={type: categorical, values: [random_forest, xgboost]}"],
        "",
        "algorithm 'xgboost' is not one of",
    ),
    "integer range with fractional ends": (
        ["train.tuning.ranges.max_depth={type: integer, min: 1.5, max: 4}"],
        "",
        "an integer range needs whole min and max",
    ),
    # counts, sizes and periods beyond AWS's limits
    "scale-in cooldown beyond AWS's limit": (
        ["deploy.autoscaling.scale_in_cooldown=100000000000000000000"],
        "",
        "deploy.autoscaling.scale_in_cooldown: must be a whole number >= 0 and <= 3600 (seconds; Application Auto Scaling allows 0 to 3600)",
    ),
    "scale-out cooldown beyond AWS's limit": (
        ["deploy.autoscaling.scale_out_cooldown=3601"],
        "",
        "deploy.autoscaling.scale_out_cooldown: must be a whole number >= 0 and <= 3600",
    ),
    "usage-plan quota beyond AWS's Integer": (
        ["gateway.quota.limit=100000000000000000000"],
        "",
        "gateway.quota.limit: must be a whole number >= 1 and <= 2147483647 (the largest number AWS's APIs take, a 32-bit Integer)",
    ),
    "invocations target beyond AWS's Integer": (
        ["deploy.autoscaling.invocations_per_instance=100000000000000000000"],
        "",
        "deploy.autoscaling.invocations_per_instance: must be a whole number >= 1 and <= 2147483647",
    ),
    "latency threshold that can never fire": (
        ["deploy.alarms.latency_p99_ms=60001"],
        "",
        "deploy.alarms.latency_p99_ms: must be a whole number >= 1 and <= 60000",
    ),
    "lifecycle days beyond AWS's Integer": (
        ["storage.lifecycle.raw_transitions=[{days: 100000000000000000000, storage_class: GLACIER}]"],
        "",
        "storage.lifecycle.raw_transitions.0.days: must be a whole number >= 1 and <= 2147483647",
    ),
    "log retention beyond any period": (
        ["gateway.logging.retention_days=100000000000000000000"],
        "",
        "gateway.logging.retention_days:",
    ),
    "health-check port 0": (
        ["lb.allowed_cidrs=[10.0.0.0/8]", "lb.health_check.port=0"],
        "",
        "lb.health_check.port: 0 is neither a port number from 1 to 65535 nor traffic-port",
    ),
    # schedules EventBridge Scheduler refuses, or that broke `schedule status` and the emulator
    "rate of zero": (
        ["preprocess.schedule.expression=rate(0 days)"],
        "",
        "the rate must be a whole number of at least 1",
    ),
    "absurd rate": (["preprocess.schedule.expression=rate(999999999 days)"], "", "a rate is at most 365 days"),
    "rate with Arabic-Indic digits": (["preprocess.schedule.expression=rate(\u0663 days)"], "", "n in digits 0-9"),
    "cron with Arabic-Indic digits": (["preprocess.schedule.expression=cron(\u0663 3 * * ? *)"], "", "ASCII only"),
    "cron with superscript digits": (["preprocess.schedule.expression=cron(0 \u00b3 * * ? *)"], "", "ASCII only"),
    "cron with an empty step": (
        ["preprocess.schedule.expression=cron(0/ 3 * * ? *)"],
        "",
        "needs a positive whole step",
    ),
    # tags with characters some receiving service refuses (the strictest common set)
    "tag with #": (["tags.team=ml#1"], "", "tag 'team': '#' not allowed"),
    "tag with < and >": (["tags.team=<b>"], "", "'<', '>' not allowed"),
    "tag with ;": (["tags.team=a;b"], "", "';' not allowed"),
    "tag with an emoji": (["tags.team=ml \U0001f600"], "", "not allowed; tags hold letters, digits, spaces"),
    "tag key with a control character": (["tags.te\tam=ml"], "", "not allowed"),
    "tag value with the aws: prefix": (["tags.team=AWS:ml"], "", "nor values with aws:"),
    "empty tag value": (["tags.team="], "", "the value must be 1-256 characters"),
    "too many tags": ([f"tags.t{i}=x" for i in range(41)], "", "41 tags: at most 40"),
    # networks: the security group rule takes IPv4 CIDRs (CidrIp); AWS refuses duplicates
    "IPv6 allowed CIDR": (
        ["lb.allowed_cidrs=['2001:db8::/32']"],
        "",
        "lb.allowed_cidrs: '2001:db8::/32' is an IPv6 network",
    ),
    "CIDR with host bits": (
        ["lb.allowed_cidrs=[10.0.0.1/8]"],
        "",
        "'10.0.0.1/8' is not a CIDR block: it has host bits set (the network is 10.0.0.0/8)",
    ),
    "CIDR listed twice": (["lb.allowed_cidrs=[10.0.0.0/8, 10.0.0.0/8]"], "", "10.0.0.0/8 listed twice"),
    "duplicate load balancer subnets": (
        ["lb.allowed_cidrs=[10.0.0.0/8]", "lb.subnets=[subnet-0a1b2c3d, subnet-0a1b2c3d]"],
        "",
        "lb.subnets: subnet-0a1b2c3d listed twice",
    ),
    "duplicate job subnets": (
        ["network.vpc={subnet_ids: [subnet-1, subnet-1], security_group_ids: [sg-1]}"],
        "",
        "network.vpc.subnet_ids: subnet-1 listed twice",
    ),
    "duplicate job security groups": (
        ["network.vpc={subnet_ids: [subnet-1], security_group_ids: [sg-1, sg-1]}"],
        "",
        "network.vpc.security_group_ids: sg-1 listed twice",
    ),
    # images whose Python or scikit-learn cannot run the container scripts
    "image 0.20.0": (["preprocess.framework_version=0.20.0"], "", "the container scripts need Python 3.9+"),
    "image 0.23-1": (["train.framework_version=0.23-1"], "", "train.framework_version: scikit-learn image 0.23-1"),
    "image 1.0-1": (["train.framework_version=1.0-1"], "", "no class_weight on HistGradientBoostingClassifier"),
    # rollouts SageMaker refuses
    "deployment timeout shorter than its waits": (
        ["deploy.rollout={mode: canary, wait_minutes: 60, termination_wait_minutes: 60, max_execution_minutes: 60}"],
        "",
        "max_execution_minutes (60) must exceed the waits of the rollout, 120 minutes",
    ),
    "linear rollout longer than its timeout": (
        [
            "deploy.instance_count=4",
            "deploy.autoscaling.min=4",
            "deploy.rollout={mode: linear, linear_step_percent: 10, wait_minutes: 10}",
        ],
        "",
        "10 step(s)",
    ),
    "canary on a fleet of one": (["deploy.rollout.mode=canary"], "", "more than half the fleet"),
    "canary above half of a fleet autoscaling may shrink": (
        [
            "deploy.rollout={mode: canary, canary_percent: 50}",
            "deploy.instance_count=3",
            "deploy.autoscaling={min: 1, max: 4}",
        ],
        "",
        "a canary step of 50% of 1 instance(s)",
    ),
    # Grid tuning
    "Grid with a job count other than the grid's size": (
        [
            "train.tuning={strategy: Grid, max_jobs: 12, ranges: {class_weight: {type: categorical, values: [none, balanced]}}}"
        ],
        "",
        "max_jobs must be 2 or left out",
    ),
    "Grid over a continuous range": (
        ["train.tuning={strategy: Grid, ranges: {learning_rate: {type: continuous, min: 0.01, max: 0.3}}}"],
        "",
        "Grid tuning takes categorical ranges only",
    ),
}


@pytest.fixture(autouse=True)
def no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)


def write(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(MINIMAL + extra, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_config_validate_refuses_with_the_rule(
    case: str, tmp_path: Path, aws_calls: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    overrides, extra, expected = REFUSED[case]
    path = write(tmp_path, extra)
    args = ["config", "validate", "-c", str(path)]
    for override in overrides:
        args += ["--set", override]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert expected in " ".join(err.split()), err  # rich wraps long lines
    assert "Traceback" not in err
    assert aws_calls == []


@pytest.mark.parametrize(
    "overrides",
    [
        ["train.hyperparameters.max_depth=null"],  # no limit
        ["train.hyperparameters.max_depth=none"],
        ["train.hyperparameters={algorithm: logistic_regression, C: 0.5, max_iter: 0, class_weight: balanced}"],
        ["preprocess.schedule.expression=rate(365 days)", "preprocess.schedule.timezone=America/New_York"],
        ["aws.endpoint_url=http://[::1]:4566", "aws.region=eusc-de-east-1"],
        ["train.tuning={strategy: Grid, ranges: {class_weight: {type: categorical, values: [none, balanced]}}}"],
        [
            "train.tuning={strategy: Grid, max_jobs: 2, ranges: {class_weight: {type: categorical, values: [none, balanced]}}}"
        ],
        ["deploy.rollout.mode=canary", "deploy.instance_count=2", "deploy.autoscaling.min=2"],
        ["deploy.autoscaling.scale_in_cooldown=3600", "gateway.quota.limit=2147483647"],
        ["tags.team=Zürich data_1 +-=.:/@", "tags.owner=ana@example.com"],
        ["preprocess.framework_version=1.2-1", "train.framework_version=1.4-2-py312"],
    ],
)
def test_values_within_the_rules_are_accepted(tmp_path: Path, overrides: list[str]) -> None:
    load_config(write(tmp_path), overrides)


def test_hyperparameters_are_checked_against_every_algorithm_a_tuning_job_tries(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            write(tmp_path),
            [
                "train.hyperparameters={algorithm: logistic_regression, max_iter: 0}",  # LogisticRegression takes 0
                "train.tuning.ranges.algorithm={type: categorical, values: [logistic_regression, hist_gradient_boosting]}",
            ],
        )
    [problem] = caught.value.problems
    assert "train.hyperparameters.max_iter: max_iter=0 must be a whole number >= 1" in problem.replace(
        "hyperparameter ", ""
    )
    assert "HistGradientBoostingClassifier's rule for max_iter" in problem


def _integer_fields(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for model, definition in schema["$defs"].items():
        for name, prop in definition.get("properties", {}).items():
            for option in [prop, *prop.get("anyOf", [])]:
                if option.get("type") == "integer":
                    found.append((f"{model}.{name}", option))
    return found


def test_every_integer_setting_has_bounds() -> None:
    """AWS's Integer is 32-bit and most settings have tighter documented limits: an integer without a maximum
    would let 1e20 through to AWS."""
    fields = _integer_fields(Config.model_json_schema())
    assert len(fields) > 40
    unbounded = [name for name, option in fields if "maximum" not in option or "minimum" not in option]
    assert unbounded == []


# --- schedules AWS holds: computing their next times never fails --------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "zone"),
    [
        ("rate(999999999 days)", "UTC"),  # set outside mlops: past datetime's range
        ("at(2030-01-01T03:00:00)", "UTC"),  # a one-off schedule
        ("cron(0 3 * * ? *)", "America"),  # a directory of the zone database, not a zone
    ],
)
def test_schedule_status_shows_no_next_runs_for_what_it_cannot_compute(expression: str, zone: str) -> None:
    from mlops_cli.services.schedule import next_runs

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_runs(expression, zone, now, 3, created=now - timedelta(days=400)) == []
    assert len(next_runs("rate(1 day)", "UTC", now, 3, created=now)) == 3


def test_the_emulator_computes_no_next_time_for_an_absurd_rate() -> None:
    from mlops_cli.emulator.pipelines import expressions

    absurd = expressions.parse("rate(999999999 days)")
    anchor = datetime(2026, 1, 1, tzinfo=UTC)
    assert expressions.next_after(absurd, anchor, None, anchor) is None
    every_minute = expressions.parse("rate(1 minute)")
    assert expressions.next_after(every_minute, anchor, None, anchor) == anchor + timedelta(minutes=1)


@pytest.mark.parametrize("expression", ["rate(\u0663 days)", "cron(\u0663 3 * * ? *)", "cron(0\u20033 * * ? *)"])
def test_the_emulator_refuses_schedules_with_non_ascii_digits_or_spaces(expression: str) -> None:
    from mlops_cli.emulator.pipelines import expressions

    with pytest.raises(expressions.ExpressionError, match="ASCII"):
        expressions.parse(expression)


def test_the_emulator_scheduler_keeps_firing_after_a_schedule_it_cannot_compute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3
    from moto import mock_aws

    from mlops_cli.emulator.pipelines import schedules, targets

    started: list[str] = []
    monkeypatch.setattr(targets, "start", lambda arn, parameters, source: started.append(arn))
    pipeline = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/"
    with mock_aws():
        client = boto3.client("scheduler", region_name="eu-west-1")
        for name, expression in [("absurd", "rate(999999999 days)"), ("often", "rate(1 minute)")]:
            client.create_schedule(
                Name=name,
                ScheduleExpression=expression,
                FlexibleTimeWindow={"Mode": "OFF"},
                Target={"Arn": pipeline + name, "RoleArn": "arn:aws:iam::123456789012:role/scheduler"},
            )
        scheduler = schedules.Scheduler()
        now = datetime.now(UTC)
        scheduler.check(now)  # first sight: counting starts
        scheduler.check(now + timedelta(minutes=2))
    assert started == [pipeline + "often"]


# --- Grid tuning sends the grid's size ------------------------------------------------------------------------------

GRID_OF_6 = (
    "train.tuning={strategy: Grid, max_parallel: 2, ranges: {"
    "algorithm: {type: categorical, values: [logistic_regression, random_forest, hist_gradient_boosting]},"
    " class_weight: {type: categorical, values: [none, balanced]}}}"
)


def test_grid_tuning_asks_for_exactly_the_grid(clients: AwsClients) -> None:
    from tests.unit.test_register_runs import preprocessed, registry_config

    config = registry_config(GRID_OF_6)  # no max_jobs: the default (12) is not the grid's size
    preprocessed(clients, config)
    started = train.start_tuning(clients, config)
    limits = clients.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=started.job_name
    )["HyperParameterTuningJobConfig"]["ResourceLimits"]
    assert limits["MaxNumberOfTrainingJobs"] == 6 == started.max_jobs


def test_grid_tuning_refuses_another_job_count_before_any_call(aws_calls: list[str]) -> None:
    from tests.unit.test_register_runs import registry_config

    config = registry_config(GRID_OF_6)
    with pytest.raises(UsageError, match="--max-jobs must be 6 or left out"):
        train.start_tuning(AwsClients(config.aws, resolve=False), config, max_jobs=3)
    assert aws_calls == []


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("C", "nan", "C='nan' must be a number > 0"),
        ("n_estimators", "1e20", "n_estimators='1e20' must be a whole number >= 1 and <= 2147483647"),
        ("max_depth", "0", "max_depth='0' must be a whole number >= 1"),
        ("class_weight", "heavy", "must be one of none, balanced"),
    ],
)
def test_hyperparameter_overrides_follow_the_config_rules(name: str, raw: str, expected: str) -> None:
    from tests.unit.conftest import make_config

    with pytest.raises(UsageError, match=re.escape(expected)):
        train._hyperparameters(make_config(), {name: raw})
    merged = train._hyperparameters(make_config(), {"max_depth": "none", "max_iter": "300.0", "C": "0.5"})
    assert (merged["max_depth"], merged["max_iter"], merged["C"]) == (None, 300, 0.5)


def _number_paths(model: Any, prefix: tuple[str, ...] = ()) -> list[str]:
    """The dotted path of every number setting reachable through nested sections (not inside lists or maps)."""
    import typing

    from pydantic import BaseModel

    paths = []
    for name, info in model.model_fields.items():
        key = (*prefix, info.alias or name)
        if typing.get_origin(info.annotation) in (list, dict):
            continue
        options = [info.annotation, *typing.get_args(info.annotation)]  # X | None: X
        options += [arg for option in list(options) for arg in typing.get_args(option)]  # Annotated[int, ...]
        section = next((o for o in options if isinstance(o, type) and issubclass(o, BaseModel)), None)
        if section is not None:
            paths += _number_paths(section, key)
        elif any(o in (int, float) for o in options):
            paths.append(".".join(key))
    return paths


def test_no_number_setting_takes_nan_or_infinity(tmp_path: Path) -> None:
    """One project-wide rule, so that no field is forgotten: every number setting refuses NaN and infinity."""
    paths = _number_paths(Config)
    assert len(paths) > 50
    sections = ["lb.allowed_cidrs=[10.0.0.0/8]", "preprocess.schedule.expression=rate(1 day)"]
    accepted = []
    for path in paths:
        for value in (".nan", ".inf", "-.inf"):
            try:
                load_config(write(tmp_path), [*sections, f"{path}={value}"])
            except ConfigError as error:
                assert any(f" {path}: " in problem for problem in error.problems), error.problems
            else:
                accepted.append(f"{path}={value}")
    assert accepted == []
