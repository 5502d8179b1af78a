"""The configuration schema. One file per environment; every field is documented for `mlops config schema`."""

from __future__ import annotations

import functools
import math
import re
import unicodedata
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlops_cli.aws.images import PYTHON_VERSIONS, SKLEARN_VERSIONS
from mlops_cli.aws.limits import AWS_INTEGER_MAX
from mlops_cli.aws.naming import ResourceNames, bucket_name_problems, kms_alias_problems
from mlops_cli.config.hyperparameters import (
    ALGORITHMS,
    CLASSIFICATION_ALGORITHMS,
    DEFAULT_ALGORITHM,
    HYPERPARAMETER_RULES,
    HYPERPARAMETERS,
    REGRESSION_ALGORITHMS,
    NumberRule,
    hyperparameter_problem,
)
from mlops_cli.config.schedule_expressions import is_time_zone, schedule_expression
from mlops_cli.config.scripts import ScriptSpec, code_problems
from mlops_cli.config.tasks import (
    DEFAULT_OBJECTIVES,
    METRIC_RANGES,
    TARGET_TYPES,
    Task,
    infer_task,
    job_metrics,
    natural_goal,
    task_problem,
)

# re.ASCII: \d would take any script's digits (Arabic-Indic, ...), which AWS refuses; \Z: '$' allows a final newline
_ARN = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:\d{12}:.+\Z", re.ASCII)
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(role|user|root|assumed-role)(/.+)?\Z", re.ASCII)


class Strict(BaseModel):
    # allow_inf_nan=False: NaN and infinity are refused in every float field of every model (they crash later or
    # reach AWS otherwise); integers get their upper bounds field by field (tests check that none lacks one)
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


@functools.cache
def known_regions() -> frozenset[str]:
    """The regions of every partition in the installed botocore's data files (offline; no call is made). Found
    without importing botocore, which `config validate` must not load (start-up time)."""
    import json
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("botocore")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    # partitions.json (7 kB) lists every region endpoints.json (1.2 MB, 40 ms to parse) does, and newer ones
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "partitions.json"
    try:
        partitions = json.loads(path.read_text(encoding="utf-8"))["partitions"]
    except (OSError, ValueError, KeyError):
        return frozenset()
    return frozenset(r for partition in partitions for r in partition.get("regions", {}) if not r.endswith("-global"))


def _region_problem(value: str) -> str | None:
    regions = known_regions()
    if not regions or value in regions:
        return None
    import difflib
    from importlib.metadata import version

    botocore_version = version("botocore")

    close = difflib.get_close_matches(value, sorted(regions), n=3)
    return (
        f"'{value}' is not an AWS region known to botocore {botocore_version}"
        + (f" (did you mean {', '.join(close)}?)" if close else " (like eu-west-1 or us-east-1)")
        + "; a region newer than botocore needs `pip install -U boto3`"
    )


def _endpoint_problem(value: str) -> str | None:
    from urllib.parse import urlsplit

    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return f"{value!r} is not an http(s) URL: it holds spaces or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port  # ValueError when it is not a number from 0 to 65535
    except ValueError as exc:
        return f"'{value}' is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"'{value}' is neither 'local' nor an http(s) URL with a host, like https://host:4566"
    if port == 0:
        return f"'{value}': port 0 cannot be connected to"
    if parts.username is not None or parts.password is not None:
        return "the endpoint URL must not hold credentials (user:password@)"
    return None


ProjectName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9-]{0,18}[a-z0-9]$",
        description="Lowercase letters, digits and hyphens, 2-20 characters; the first part of every resource name.",
    ),
]
EnvironmentName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9]{0,9}$",
        description="Lowercase letters and digits, 1-10 characters (local, dev, prod, ...).",
    ),
]


class Retries(Strict):
    mode: Literal["standard", "adaptive", "legacy"] = Field("standard", description="botocore retry mode.")
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per call, the first included.")


class Timeouts(Strict):
    connect: float = Field(10, gt=0, le=300, description="Seconds to open a connection.")
    read: float = Field(60, gt=0, le=900, description="Seconds to wait for a response.")


class AwsConfig(Strict):
    region: str = Field(
        description="AWS region; taken from AWS_REGION / AWS_DEFAULT_REGION when the config leaves it out."
    )
    profile: str | None = Field(None, description="Named profile from ~/.aws; default: the standard credential chain.")
    endpoint_url: str | None = Field(
        None,
        description="'local' for the embedded emulator, an http(s) URL for another endpoint, or empty for AWS.",
    )
    role_arn: str | None = Field(None, description="An existing SageMaker execution role; default: one is generated.")
    retries: Retries = Field(default_factory=Retries)
    timeouts: Timeouts = Field(default_factory=Timeouts)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if problem := _region_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if not value or value == "local":
            return value or None
        if problem := _endpoint_problem(value):
            raise ValueError(problem)
        return value

    @field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+\Z", value, re.ASCII):
            raise ValueError(f"'{value}' is not an IAM role ARN")
        return value

    @property
    def is_local(self) -> bool:
        return self.endpoint_url == "local"


ColumnType = Literal["int", "float", "string", "bool", "category"]


class Column(Strict):
    """One column of the dataset. `bool` columns hold yes/no (also true/false, 1/0)."""

    type: ColumnType
    values: list[str] | None = Field(None, description="Allowed values of a category column.")
    min: float | None = Field(None, description="Smallest allowed value of a numeric column.")
    max: float | None = Field(None, description="Largest allowed value of a numeric column.")
    nullable: bool = Field(True, description="Whether a value may be missing (the target never may).")

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        if self.type == "category" and not self.values:
            raise ValueError("a category column needs 'values', the list of allowed categories")
        if self.type != "category" and self.values is not None:
            raise ValueError(f"'values' applies to category columns only, not {self.type}")
        if (self.min is not None or self.max is not None) and self.type not in ("int", "float"):
            raise ValueError("'min' and 'max' apply to int and float columns only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


Located = tuple[tuple[str | int, ...], Any, str]  # (place relative to the model validated, value given, rule)


def _located(problems: list[Located]) -> Exception:
    """The problems as one validation error, each at its own setting, so that `file:line field` names the setting
    at fault rather than the section around it (pydantic keeps the places of an error raised by a validator)."""
    from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

    return ValidationError.from_exception_data(
        "Config",
        [
            InitErrorDetails(type=PydanticCustomError("rule", "{rule}", {"rule": message}), loc=loc, input=value)
            for loc, value, message in problems
        ],
    )


def _at(loc: tuple[str | int, ...], value: Any, message: str) -> Exception:
    """One problem at its setting (see _located)."""
    return _located([(loc, value, message)])


def _column_shorthand(value: Any) -> Any:
    """`plan: int` or `plan: {category: [a, b]}` are short for the full column mapping."""
    if isinstance(value, str):
        return {"type": value}
    if isinstance(value, dict) and "category" in value and "type" not in value:
        rest = {k: v for k, v in value.items() if k != "category"}
        return {"type": "category", "values": value["category"], **rest}
    return value


class Dataset(Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="Dataset name, used in S3 prefixes.")
    key: str = Field(description="The column that identifies a row (used for deduplication and the split).")
    target: str = Field(
        description=f"The column the model predicts, of type {TARGET_TYPES}: bool or a category for classification "
        "(a category's values are the classes), int or float for regression."
    )
    task: Task | None = Field(
        None,
        description="binary, multiclass or regression. Default: from the target's type (bool or a 2-valued "
        "category: binary; a category of 3 or more values: multiclass; int or float: regression).",
    )
    columns: dict[str, Column] = Field(description="Every column, in file order: a type or a column mapping.")

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {name: _column_shorthand(spec) for name, spec in value.items()}
        return value

    @model_validator(mode="after")
    def _key_and_target(self) -> Dataset:
        for role in ("key", "target"):
            column = getattr(self, role)
            if column not in self.columns:
                raise ValueError(f"{role} column '{column}' is not among the declared columns")
        if self.key == self.target:
            raise ValueError("the key and the target must be different columns")
        target = self.columns[self.target]
        values = target.values
        if target.type == "category" and values is not None:
            if len(values) < 2:
                raise _at(
                    ("target",),
                    self.target,
                    f"the target '{self.target}' is a category of one value: a "
                    "model needs at least 2 classes to tell apart",
                )
            if repeated := sorted({v for v in values if values.count(v) > 1}):
                raise _at(("target",), self.target, f"the target's classes {', '.join(repeated)} are listed twice")
        if self.task is None:
            self.task = infer_task(target.type, values)
            if self.task is None:
                raise _at(
                    ("target",),
                    self.target,
                    f"the target '{self.target}' is a {target.type} column, which no task learns: declare the "
                    f"target as a category with its values, or a number ({TARGET_TYPES})",
                )
        elif problem := task_problem(self.task, self.target, target.type, values):
            raise _at(("task",), self.task, problem)
        return self

    @property
    def features(self) -> dict[str, Column]:
        return {name: col for name, col in self.columns.items() if name not in (self.key, self.target)}

    @property
    def resolved_task(self) -> Task:
        """The task, declared or inferred (validation always sets it)."""
        assert self.task is not None
        return self.task

    @property
    def classes(self) -> list[str]:
        """The class names as text, in order (schema.json's `classes`); empty for regression."""
        target = self.columns[self.target]
        if self.task == "regression":
            return []
        return ["no", "yes"] if target.type == "bool" else list(target.values or [])

    @property
    def positive_label(self) -> str | None:
        """The class a binary model's probability is about: yes for a bool target, the last listed value of a
        category."""
        return self.classes[-1] if self.task == "binary" else None

    @property
    def raw_prefix(self) -> str:
        return f"raw/{self.name}/"


class AccessGrant(Strict):
    """An IAM principal allowed to read or write only the listed prefixes of the data bucket."""

    arn: str = Field(description="IAM role or user ARN.")
    prefixes: list[str] = Field(min_length=1, description="Key prefixes, like 'processed/' or 'raw/churn/'.")

    @field_validator("arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not _PRINCIPAL_ARN.match(value):
            raise ValueError(f"'{value}' is not an IAM role or user ARN")
        return value

    @field_validator("prefixes")
    @classmethod
    def _prefixes(cls, value: list[str]) -> list[str]:
        for prefix in value:
            if prefix.startswith("/") or "*" in prefix or not prefix.endswith("/"):
                raise ValueError(f"prefix '{prefix}' must end with '/', not start with '/', and hold no '*'")
        return value


class RawTransition(Strict):
    days: int = Field(ge=1, le=AWS_INTEGER_MAX, description="Days after upload.")
    storage_class: Literal["STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"]


class Lifecycle(Strict):
    noncurrent_days: int = Field(90, ge=1, le=3650, description="Expire noncurrent object versions after N days.")
    abort_multipart_days: int = Field(7, ge=1, le=365, description="Abort incomplete multipart uploads after N days.")
    raw_transitions: list[RawTransition] = Field(
        default_factory=list, description="Move raw data to cheaper storage classes as it ages."
    )


class Upload(Strict):
    multipart_threshold_mb: int = Field(64, ge=5, le=5120, description="Files at least this large go multipart.")
    part_size_mb: int = Field(16, ge=5, le=5120, description="Multipart part size.")
    max_concurrency: int = Field(8, ge=1, le=64, description="Parallel part uploads.")


class Storage(Strict):
    bucket: str | None = Field(None, description="Data bucket; default <project>-<env>-<account>-<region>-data.")
    log_bucket: str | None = Field(None, description="Access-log bucket; default ...-logs.")
    encryption: Literal["kms", "s3"] = Field("kms", description="SSE-KMS with a project key, or SSE-S3.")
    kms_key: str | None = Field(None, description="Existing KMS key ARN or alias; default: a project key is created.")
    access_logging: bool = Field(True, description="Server access logs into the log bucket.")
    log_retention_days: int = Field(365, ge=1, le=3650, description="Expire access logs after N days.")
    job_log_retention_days: int = Field(
        365,
        ge=1,
        le=3653,
        description="Days CloudWatch Logs keeps the SageMaker job and endpoint logs (a CloudWatch Logs period).",
    )
    readers: list[AccessGrant] = Field(default_factory=list, description="Principals that may read their prefixes.")
    writers: list[AccessGrant] = Field(default_factory=list, description="Principals that may write their prefixes.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    upload: Upload = Field(default_factory=Upload)

    @field_validator("bucket", "log_bucket")
    @classmethod
    def _bucket(cls, value: str | None) -> str | None:
        if value is not None and (problems := bucket_name_problems(value)):
            raise ValueError(f"bucket name '{value}' " + "; ".join(problems))
        return value

    @field_validator("job_log_retention_days")
    @classmethod
    def _job_log_retention(cls, value: int) -> int:
        return _log_retention(value)

    @field_validator("kms_key")
    @classmethod
    def _kms(cls, value: str | None) -> str | None:
        if value is None or _ARN.match(value):
            return value
        if problems := kms_alias_problems(value):
            raise ValueError(problems[0] + " (or give a key ARN)")
        return value

    @model_validator(mode="after")
    def _kms_only_with_kms(self) -> Storage:
        if self.kms_key and self.encryption != "kms":
            raise ValueError("kms_key is set but encryption is 's3'; use encryption: kms or drop kms_key")
        return self


def _framework_version(value: str) -> str:
    from mlops_cli.aws.images import REFUSED_SKLEARN_VERSIONS

    if value in REFUSED_SKLEARN_VERSIONS:
        raise ValueError(
            f"scikit-learn image {value} cannot run the container scripts: {REFUSED_SKLEARN_VERSIONS[value]} "
            f"(use {', '.join(SKLEARN_VERSIONS)})"
        )
    return _one_of(value, SKLEARN_VERSIONS, "scikit-learn image version the container scripts run on")


def _instance_type(kind: str) -> Any:
    def check(value: str) -> str:
        from mlops_cli.aws.instance_types import instance_type_problem

        if problem := instance_type_problem(value, kind):  # type: ignore[arg-type]
            raise ValueError(problem)
        return value

    return check


ProcessingInstance = Annotated[
    str, AfterValidator(_instance_type("processing")), Field(description="SageMaker processing instance type.")
]
TrainingInstance = Annotated[
    str, AfterValidator(_instance_type("training")), Field(description="SageMaker training instance type.")
]
FrameworkVersion = Annotated[
    str,
    Field(description=f"Version of SageMaker's prebuilt scikit-learn image: {', '.join(SKLEARN_VERSIONS)}."),
    AfterValidator(_framework_version),
]


def _one_of(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"'{value}' is not a {what} ({', '.join(allowed)})")
    return value


def _each_once(values: list[str]) -> list[str]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"{', '.join(repeated)} listed twice: list each once (AWS refuses duplicates)")
    return values


UniqueIds = Annotated[list[str], AfterValidator(_each_once)]


class Vpc(Strict):
    subnet_ids: UniqueIds = Field(min_length=1, description="Subnets the job's instances run in.")
    security_group_ids: UniqueIds = Field(min_length=1, description="Security groups of the job's instances.")


class Network(Strict):
    """Network settings of every SageMaker job."""

    isolation: bool = Field(False, description="No network access from the job's container (EnableNetworkIsolation).")
    vpc: Vpc | None = Field(None, description="Run jobs inside these subnets (no internet unless the VPC gives it).")


class Split(Strict):
    validation: float = Field(0.15, gt=0, lt=0.5, description="Share of keys in the validation split.")
    test: float = Field(0.15, gt=0, lt=0.5, description="Share of keys in the test split.")


class Schedule(Strict):
    """Run preprocessing by itself: a SageMaker Pipeline started by EventBridge Scheduler and, with on_new_data, by
    an EventBridge rule whenever a new batch lands under the dataset's raw prefix."""

    expression: Annotated[str, AfterValidator(schedule_expression)] = Field(
        description="cron(min hour day-of-month month day-of-week year) or rate(n minutes|hours|days)."
    )
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in (Europe/Berlin, ...).")
    flexible_window_minutes: int | None = Field(
        None, ge=1, le=1440, description="Let the scheduler start up to this many minutes late (spreads load)."
    )
    on_new_data: bool = Field(False, description="Also start the pipeline when an object is created under raw/.")
    retry_attempts: int = Field(3, ge=0, le=185, description="Scheduler retries when starting the pipeline fails.")
    max_event_age_minutes: int = Field(60, ge=1, le=1440, description="Give up retrying a start after this long.")
    enabled: bool = Field(True, description="false creates the schedule and rule disabled.")
    continuous_training: bool = Field(
        False, description="The pipeline also trains, evaluates and registers a model when the objective passes."
    )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        if not is_time_zone(value):
            raise ValueError(f"'{value}' is not an IANA time zone name (like UTC or Europe/Berlin)")
        return value


class Preprocess(Strict):
    framework_version: FrameworkVersion = "1.4-2"
    instance_type: ProcessingInstance = "ml.m5.large"
    instance_count: int = Field(1, ge=1, le=20, description="Workers; more than one shards the input by S3 key.")
    volume_size_gb: int = Field(30, ge=1, le=16384)
    max_runtime_minutes: int = Field(60, ge=1, le=7 * 24 * 60)
    split: Split = Field(default_factory=Split)
    max_reject_rate: float = Field(0.05, ge=0, le=1, description="Fail the job when more rows than this are rejected.")
    schedule: Schedule | None = Field(None, description="Run by itself: `mlops preprocess schedule apply`.")
    script: ScriptSpec | None = Field(None, description="Your own preprocessing script instead of preprocess.py.")

    @field_validator("script")
    @classmethod
    def _script_compiles(cls, script: ScriptSpec | None, info: ValidationInfo) -> ScriptSpec | None:
        return _compiles(script, info.data.get("framework_version"))


class TuningRange(Strict):
    type: Literal["integer", "continuous", "categorical"]
    min: float | None = None
    max: float | None = None
    values: list[str] | None = Field(None, max_length=30, description="Categorical values (SageMaker: at most 30).")
    scaling: Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"] = "Auto"

    @field_validator("values", mode="before")
    @classmethod
    def _values_as_text(cls, value: Any) -> Any:
        # SageMaker sends every categorical value as a string; YAML numbers (2, 0.1) are meant as those strings
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TuningRange:
        if self.type == "categorical":
            if not self.values:
                raise ValueError("a categorical range needs 'values'")
            if len(set(self.values)) != len(self.values):
                raise ValueError("a categorical range lists each value once")
        elif self.min is None or self.max is None or self.min >= self.max:
            raise ValueError(f"an {self.type} range needs min < max")
        elif self.type == "integer" and not (self.min.is_integer() and self.max.is_integer()):
            raise ValueError(f"an integer range needs whole min and max (not {self.min:g}..{self.max:g})")
        elif self.scaling in ("Logarithmic", "ReverseLogarithmic") and self.min <= 0:
            raise ValueError("logarithmic scaling needs min > 0")
        return self


class Objective(Strict):
    """What tuning optimizes and registration judges. Default: the task's (binary: validation:auc maximize;
    multiclass: validation:macro_f1 maximize; regression: validation:rmse minimize)."""

    metric: str = Field(
        "validation:auc",
        pattern=r"^(train|validation):[a-z0-9_]+$",
        description="A metric the training job reports for the task: train:<name> or validation:<name> (binary: "
        "auc, accuracy, f1, precision, recall, logloss; multiclass: accuracy, macro_f1, logloss; regression: "
        "rmse, mae, r2). Default: the task's.",
    )
    goal: Literal["maximize", "minimize"] = Field(
        "maximize", description="Default: the metric's better direction (minimize logloss, rmse, mae)."
    )


MAX_TUNING_JOBS = 500  # SageMaker's limit on training jobs per tuning job (MaxNumberOfTrainingJobs)


class Tuning(Strict):
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"] = "Bayesian"
    max_jobs: int = Field(
        12,
        ge=1,
        le=MAX_TUNING_JOBS,
        description="Training jobs in all. Grid runs every combination: leave it out, or give the grid's size.",
    )
    max_parallel: int = Field(2, ge=1, le=100, description="Training jobs at once (SageMaker's limit: 100).")
    ranges: dict[str, TuningRange] = Field(default_factory=dict, description="Hyperparameter ranges to search.")

    @property
    def grid_size(self) -> int:
        """How many combinations the categorical ranges make: the number of jobs a Grid tuning job runs."""
        return math.prod(len(spec.values or ()) for spec in self.ranges.values())

    @model_validator(mode="after")
    def _grid(self) -> Tuning:
        if self.strategy != "Grid":
            return self
        others = sorted(name for name, spec in self.ranges.items() if spec.type != "categorical")
        if others:
            raise ValueError(
                f"Grid tuning takes categorical ranges only (SageMaker's rule), not {', '.join(others)}: "
                "list the values to try, or use strategy Bayesian or Random"
            )
        size = self.grid_size
        if size > MAX_TUNING_JOBS:
            raise ValueError(f"the grid has {size} combinations; a tuning job runs at most {MAX_TUNING_JOBS} jobs")
        if "max_jobs" in self.model_fields_set and self.ranges and self.max_jobs != size:
            raise ValueError(
                f"Grid tuning runs every combination, {size} here: max_jobs must be {size} or left out "
                "(SageMaker refuses a MaxNumberOfTrainingJobs different from the grid's size)"
            )
        return self


class Train(Strict):
    framework_version: FrameworkVersion = "1.4-2"
    instance_type: TrainingInstance = "ml.m5.large"
    instance_count: int = Field(1, ge=1, le=1, description="The scikit-learn estimators train on one instance.")
    volume_size_gb: int = Field(30, ge=1, le=16384)
    max_runtime_minutes: int = Field(120, ge=1, le=28 * 24 * 60)
    hyperparameters: dict[str, str | int | float | None] = Field(
        default_factory=lambda: dict[str, str | int | float | None](algorithm=DEFAULT_ALGORITHM),
        description=f"Passed to train.py: {', '.join(HYPERPARAMETERS)}. max_depth: null means no limit. "
        f"algorithm: {', '.join(CLASSIFICATION_ALGORITHMS)} (binary, multiclass); "
        f"{', '.join(REGRESSION_ALGORITHMS)} (regression). C and class_weight: classification only; alpha: ridge.",
    )
    objective: Objective = Field(default_factory=Objective)
    tuning: Tuning = Field(default_factory=Tuning)
    evaluate_instance_type: ProcessingInstance = "ml.m5.large"
    script: ScriptSpec | None = Field(
        None,
        description="Your own training script instead of train.py: it writes the model in the model contract, and "
        "takes train.hyperparameters (and tuning ranges) by its own names, unchecked by train.py's rules.",
    )

    @field_validator("script")
    @classmethod
    def _script_compiles(cls, script: ScriptSpec | None, info: ValidationInfo) -> ScriptSpec | None:
        return _compiles(script, info.data.get("framework_version"))

    def range_problems(self, task: str | None) -> list[Located]:
        """What in the tuning ranges the task's estimators cannot take, each at its place under `train` (the fixed
        hyperparameters are checked as written, by Config._hyperparameters). Without a task, every task's
        estimators count."""
        static = self.hyperparameters
        ranges = self.tuning.ranges
        tried: tuple[str, ...] = (str(static.get("algorithm", DEFAULT_ALGORITHM)),)
        if "algorithm" in ranges:
            tried = tuple(ranges["algorithm"].values or ())
        problems: list[Located] = []
        for name, spec in ranges.items():  # as `train tune` sends them
            given = spec.values if spec.type == "categorical" else [spec.min, spec.max]
            problems += [(("tuning", "ranges", name), given, p) for p in _range_problems(name, spec, tried, task)[:1]]
        if "algorithm" in ranges:  # the fixed values must suit every algorithm tried
            problems += [
                (("hyperparameters", name), item, p)
                for name, item in static.items()
                if name not in ranges and (p := hyperparameter_problem(name, item, tried, task))
            ]
        return problems


def _task_of(info: ValidationInfo) -> str | None:
    """The dataset's task, when the dataset (validated before the other sections) is valid."""
    dataset = info.data.get("dataset")
    return dataset.task if isinstance(dataset, Dataset) else None


def _range_problems(name: str, spec: TuningRange, algorithms: tuple[str, ...], task: str | None = None) -> list[str]:
    if name not in HYPERPARAMETERS:
        return [f"unknown hyperparameter '{name}' (known: {', '.join(HYPERPARAMETERS)})"]
    if name in ("algorithm", "class_weight") and spec.type != "categorical":
        return [f"{name} takes names, so its range must be categorical"]
    if spec.type == "categorical":
        samples: list[Any] = list(spec.values or ())
    else:
        rules = [r for r in HYPERPARAMETER_RULES.get(name, {}).values() if isinstance(r, NumberRule)]
        if spec.type == "continuous" and any(r.integer for r in rules):
            return [f"{name} is a whole number: use an integer or categorical range"]
        samples = [spec.min, spec.max]  # every rule is an interval: its ends decide
    return [p for value in samples if (p := hyperparameter_problem(name, value, algorithms, task))]


def _compiles(script: ScriptSpec | None, framework_version: str | None, *, handler: bool = False) -> ScriptSpec | None:
    """The script's code parses for the Python of the image it runs on (an unknown version is refused already)."""
    if script is None or framework_version not in PYTHON_VERSIONS:
        return script
    if problems := code_problems(script, PYTHON_VERSIONS[framework_version], framework_version, handler=handler):
        raise ValueError("; ".join(problems))
    return script


class Register(Strict):
    """The Model Registry: every model worth keeping is a version in the project's model package group."""

    approval: Literal["manual", "auto"] = Field(
        "manual", description="manual: a person approves each version; auto: approved when the objective passes."
    )
    min_metric: float | None = Field(
        None,
        description="With approval: auto, the train.objective value a version must reach in the goal's direction: "
        "at least this when maximizing, at most this when minimizing (others are rejected).",
    )

    @model_validator(mode="after")
    def _threshold(self) -> Register:
        if self.approval == "auto" and self.min_metric is None:
            raise ValueError("approval: auto needs min_metric, the objective value a model must reach")
        return self


EndpointInstance = Annotated[
    str, AfterValidator(_instance_type("endpoint")), Field(description="SageMaker endpoint instance type.")
]


COOLDOWN_MAX = 3600  # Application Auto Scaling's limit on scale-in and scale-out cooldowns, in seconds


class Autoscaling(Strict):
    enabled: bool = True
    min: int = Field(1, ge=1, le=100)
    max: int = Field(4, ge=1, le=100)
    invocations_per_instance: int = Field(
        200, ge=1, le=AWS_INTEGER_MAX, description="Target invocations per instance per minute."
    )
    scale_in_cooldown: int = Field(
        300, ge=0, le=COOLDOWN_MAX, description="Seconds; Application Auto Scaling allows 0 to 3600."
    )
    scale_out_cooldown: int = Field(
        60, ge=0, le=COOLDOWN_MAX, description="Seconds; Application Auto Scaling allows 0 to 3600."
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is larger than max ({self.max})")
        return self


class Rollout(Strict):
    """How an update shifts traffic to the new fleet (blue/green), rolled back when an alarm fires."""

    mode: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: int = Field(10, ge=1, le=50, description="Share of capacity that takes traffic first (canary).")
    linear_step_percent: int = Field(25, ge=10, le=50, description="Share moved per step (linear).")
    wait_minutes: int = Field(5, ge=0, le=60, description="Baking time per step, watching the alarms.")
    termination_wait_minutes: int = Field(5, ge=0, le=60, description="Keep the old fleet this long after the shift.")
    max_execution_minutes: int = Field(
        60, ge=10, le=480, description="Give up (and roll back) after this long; must exceed the waits it covers."
    )

    @property
    def bake_steps(self) -> int:
        """How many times traffic moves and then bakes for wait_minutes."""
        return math.ceil(100 / self.linear_step_percent) if self.mode == "linear" else 1

    @model_validator(mode="after")
    def _timeout_covers_waits(self) -> Rollout:
        waits = self.wait_minutes * self.bake_steps + self.termination_wait_minutes
        if self.max_execution_minutes <= waits:
            raise ValueError(
                f"max_execution_minutes ({self.max_execution_minutes}) must exceed the waits of the rollout, "
                f"{waits} minutes (wait_minutes {self.wait_minutes} x {self.bake_steps} step(s) + "
                f"termination_wait_minutes {self.termination_wait_minutes}): SageMaker's rule for "
                "MaximumExecutionTimeoutInSeconds"
            )
        return self


class Alarms(Strict):
    error_5xx_per_minute: int = Field(
        1, ge=1, le=AWS_INTEGER_MAX, description="5xx invocation errors per minute that roll back an update."
    )
    latency_p99_ms: int = Field(
        2000,
        ge=1,
        le=60_000,
        description="Model latency (p99, milliseconds) that rolls back an update; at most 60000, as an invocation "
        "times out after 60 s and a higher threshold could never be reached.",
    )


class DataCapture(Strict):
    enabled: bool = True
    percent: int = Field(20, ge=1, le=100, description="Share of requests and responses captured to the bucket.")


class Deploy(Strict):
    instance_type: EndpointInstance = "ml.m5.large"
    instance_count: int = Field(1, ge=1, le=100)
    autoscaling: Autoscaling = Field(default_factory=Autoscaling)
    rollout: Rollout = Field(default_factory=Rollout)
    alarms: Alarms = Field(default_factory=Alarms)
    data_capture: DataCapture = Field(default_factory=DataCapture)
    inference: ScriptSpec | None = Field(
        None, description="Your own inference handler (model_fn, input_fn, predict_fn, output_fn) instead of ours."
    )

    @model_validator(mode="after")
    def _scaling_bounds(self) -> Deploy:
        scaling = self.autoscaling
        if scaling.enabled and not scaling.min <= self.instance_count <= scaling.max:
            raise ValueError(
                f"instance_count {self.instance_count} is outside autoscaling min..max ({scaling.min}..{scaling.max})"
            )
        return self

    @model_validator(mode="after")
    def _first_step_is_at_most_half(self) -> Deploy:
        rollout = self.rollout
        if rollout.mode == "all_at_once":
            return self
        percent = rollout.canary_percent if rollout.mode == "canary" else rollout.linear_step_percent
        # the smallest fleet an update can meet: autoscaling may shrink it to its minimum
        fleet = min(self.instance_count, self.autoscaling.min) if self.autoscaling.enabled else self.instance_count
        first = math.ceil(fleet * percent / 100)  # a step is at least one whole instance
        if first * 2 > fleet:
            raise ValueError(
                f"a {rollout.mode} step of {percent}% of {fleet} instance(s) is {first} instance(s), more than half "
                "the fleet (SageMaker's rule: a canary or linear step is at most 50% of the fleet); run at least "
                "2 instances (deploy.instance_count and autoscaling.min), or use rollout.mode all_at_once"
            )
        return self


# CloudWatch Logs accepts these retention periods only.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)


def _log_retention(value: int) -> int:
    if value not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"{value} is not a CloudWatch Logs retention period ({', '.join(map(str, LOG_RETENTION_DAYS))})"
        )
    return value


class Throttle(Strict):
    rate: float = Field(100, gt=0, le=10000, description="Steady-state requests per second.")
    burst: int = Field(200, ge=1, le=5000, description="Requests allowed at once above the rate.")


class Quota(Strict):
    limit: int = Field(100_000, ge=1, le=AWS_INTEGER_MAX, description="Requests per API key per period.")
    period: Literal["DAY", "WEEK", "MONTH"] = "DAY"


class GatewayLogging(Strict):
    level: Literal["ERROR", "INFO"] = Field("INFO", description="Execution log level (logging is never off).")
    data_trace: bool = Field(
        False, description="Log full request and response bodies. They hold customer data: off unless needed."
    )
    retention_days: int = Field(90, ge=1, le=3653, description="Days to keep the access and execution logs.")

    @field_validator("retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        return _log_retention(value)


class Gateway(Strict):
    """The REST API in front of the endpoint (API Gateway, REST v1)."""

    auth: Literal["api_key", "iam", "none"] = Field(
        "api_key",
        description="api_key: x-api-key checked against a usage plan; iam: SigV4-signed requests; "
        "none: anonymous (only when written explicitly; apply warns).",
    )
    stage: str = Field(
        "v1", pattern=r"^[A-Za-z0-9_]{1,128}$", description="Stage name, the first part of the URL path."
    )
    throttle: Throttle = Field(default_factory=Throttle, description="Stage-wide and per-key request limits.")
    quota: Quota = Field(default_factory=Quota, description="Per-key request quota (auth: api_key).")
    logging: GatewayLogging = Field(default_factory=GatewayLogging)
    tracing: bool = Field(True, description="X-Ray tracing of every request.")
    timeout_ms: int = Field(29_000, ge=50, le=29_000, description="Integration timeout in milliseconds.")
    max_rows: int = Field(1000, ge=1, le=1000, description="Most records per request (the model's own limit is 1000).")


_HTTP_CODES = re.compile(r"^([1-5]\d\d)(-[1-5]\d\d)?(,([1-5]\d\d)(-[1-5]\d\d)?)*\Z", re.ASCII)


def _ipv4_cidr(value: str) -> str:
    """An IPv4 network in CIDR form (security group rules take CidrIp): no IPv6, no host bits set."""
    import ipaddress

    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise ValueError(f"'{value}' is not a CIDR block ({exc})") from None
    if network.version != 4:
        raise ValueError(f"'{value}' is an IPv6 network; this rule takes IPv4 CIDR blocks (like 10.0.0.0/8)")
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"'{value}' is not a CIDR block: it has host bits set (the network is {network})") from None
    return str(network)


class HealthCheck(Strict):
    path: str = Field("/health", pattern=r"^/[\x21-\x7e]{0,1023}$", description="Path the checks request (HTTP/HTTPS).")
    port: Annotated[int, Field(ge=1, le=65535)] | Literal["traffic-port"] = Field(
        "traffic-port", description="Port checked: 1-65535 or traffic-port."
    )
    protocol: Literal["HTTP", "HTTPS", "TCP"] | None = Field(None, description="Default: the target group's protocol.")
    interval_seconds: int = Field(10, ge=5, le=300, description="Seconds between checks of one target.")
    timeout_seconds: int = Field(5, ge=2, le=120, description="Seconds without an answer that fail a check.")
    healthy_threshold: int = Field(2, ge=2, le=10, description="Consecutive passes that make a target healthy.")
    unhealthy_threshold: int = Field(2, ge=2, le=10, description="Consecutive failures that make it unhealthy.")
    matcher: str = Field("200", description='HTTP codes that pass: "200", "200-299" or "200,204".')

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: Any) -> Any:
        # one clear message rather than one per branch of the union
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if value != "traffic-port" and not (
            isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535
        ):
            raise ValueError(f"{value!r} is neither a port number from 1 to 65535 nor traffic-port")
        return value

    @field_validator("matcher")
    @classmethod
    def _matcher(cls, value: str) -> str:
        if not _HTTP_CODES.match(value):
            raise ValueError(f"'{value}' is not a list of HTTP codes or ranges such as 200 or 200-299 or 200,202")
        return value

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheck:
        if self.timeout_seconds >= self.interval_seconds:
            raise ValueError("timeout_seconds must be less than interval_seconds")
        return self


class LbTarget(Strict):
    id: str = Field(description="An IP address (ip) or an EC2 instance id (instance).")
    port: int | None = Field(None, ge=1, le=65535, description="Default: lb.target.port.")


class LbTargets(Strict):
    type: Literal["lambda", "vpc_endpoint", "ip", "instance"] = Field(
        "lambda",
        description="lambda: a proxy function that invokes the endpoint; vpc_endpoint: the SageMaker runtime's "
        "interface endpoint, its IPs as targets; ip/instance: the targets listed here.",
    )
    port: int = Field(443, ge=1, le=65535, description="Port of ip/instance/vpc_endpoint targets.")
    protocol: Literal["HTTP", "HTTPS", "TCP", "TLS"] = Field("HTTPS", description="Protocol to ip/instance targets.")
    targets: list[LbTarget] = Field(default_factory=list, description="ip/instance targets.")
    service: Literal["sagemaker-runtime", "execute-api"] = Field(
        "sagemaker-runtime", description="vpc_endpoint: the runtime's endpoint, or the private API's."
    )
    security_group_ids: UniqueIds = Field(default_factory=list, description="vpc_endpoint: its security groups.")


class LoadBalancer(Strict):
    """An Application or Network Load Balancer in front of the model."""

    type: Literal["application", "network"] = "application"
    scheme: Literal["internet-facing", "internal"] = "internal"
    vpc_id: str = Field("default", description="VPC id, or 'default' for the account's default VPC.")
    subnets: UniqueIds = Field(
        default_factory=list, description="At least two, in different zones. Default: one per zone of the VPC."
    )
    allowed_cidrs: list[str] = Field(
        min_length=1, description="Who may connect (ALB security group). No default: name them."
    )
    certificate_arn: str | None = Field(None, description="ACM certificate: HTTPS (ALB) or TLS (NLB) listener.")
    allow_plain_http: bool = Field(
        False,
        description="Serve plain HTTP/TCP where a certificate is otherwise required (environment prod, or "
        "internet-facing). Needs plain_http_reason; apply warns.",
    )
    plain_http_reason: str | None = Field(
        None, min_length=10, max_length=500, description="Why this load balancer may serve plain HTTP."
    )
    ssl_policy: str = Field("ELBSecurityPolicy-TLS13-1-2-2021-06", description="TLS policy of the secure listener.")
    port: int | None = Field(
        None, ge=1, le=65535, description="Listener port. Default: 443 with a certificate, else 80."
    )
    target: LbTargets = Field(default_factory=LbTargets)
    health_check: HealthCheck = Field(default_factory=HealthCheck)
    min_healthy: int = Field(
        1, ge=1, le=AWS_INTEGER_MAX, description="`lb status --check` fails below this many healthy targets."
    )
    deletion_protection: bool = Field(True, description="`lb delete` still works: it turns this off first.")
    access_logs: bool = Field(True, description="Access logs to the project's log bucket (lb-access/).")
    idle_timeout_seconds: int = Field(60, ge=1, le=4000)

    @field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        return _each_once([_ipv4_cidr(item) for item in value])

    @model_validator(mode="after")
    def _consistent(self) -> LoadBalancer:
        if self.subnets and len(self.subnets) < 2:
            raise ValueError("a load balancer needs subnets in at least two availability zones")
        if self.type == "network" and self.target.type == "lambda":
            raise ValueError("a Network Load Balancer cannot have lambda targets: use type application")
        if self.target.type in ("ip", "instance") and not self.target.targets:
            raise ValueError(f"target type {self.target.type} needs lb.target.targets")
        if self.target.type not in ("ip", "instance") and self.target.targets:
            raise ValueError("lb.target.targets applies to ip and instance targets only")
        if self.allow_plain_http and self.certificate_arn is not None:
            raise ValueError("allow_plain_http contradicts certificate_arn: drop one of them")
        if self.allow_plain_http and not (self.plain_http_reason or "").strip():
            raise ValueError("allow_plain_http needs plain_http_reason: say why this traffic may go unencrypted")
        if self.scheme == "internet-facing" and self.certificate_arn is None and not self.allow_plain_http:
            raise ValueError(
                "an internet-facing load balancer needs certificate_arn: plain HTTP is not offered publicly "
                "(or allow_plain_http: true with plain_http_reason)"
            )
        if self.certificate_arn is not None and not _ARN.match(self.certificate_arn):
            raise ValueError(f"certificate_arn '{self.certificate_arn}' is not an ARN")
        return self

    @property
    def listener_port(self) -> int:
        return self.port or (443 if self.certificate_arn else 80)


_RESERVED_TAG_PREFIXES = ("aws:", "mlops:")
# The strictest set common to the services that receive the tags (S3, SageMaker, IAM, KMS, CloudWatch Logs, API
# Gateway, ELB, EventBridge Scheduler, SQS): Unicode letters and digits, the space, and _ . : / = + - @
_TAG_SYMBOLS = frozenset(" _.:/=+-@")
USER_TAGS_MAX = 40  # AWS allows 50 tags per resource; mlops adds up to 10 of its own (mlops:project, ...)


def tag_problem(key: str, value: str) -> str | None:
    """Why AWS would refuse this tag on one of the project's resources, or None."""
    if not 1 <= len(key) <= 128:
        return f"tag key '{key}' must be 1-128 characters"
    if not 1 <= len(value) <= 256:  # EventBridge Scheduler refuses empty values
        return f"tag '{key}': the value must be 1-256 characters"
    if key.lower().startswith(_RESERVED_TAG_PREFIXES) or value.lower().startswith("aws:"):
        return f"tag '{key}': keys may not start with aws: or mlops:, nor values with aws: (reserved, in any case)"
    for text in (key, value):
        bad = sorted({ch for ch in text if ch not in _TAG_SYMBOLS and unicodedata.category(ch)[0] not in "LN"})
        if bad:
            return (
                f"tag '{key}': {', '.join(repr(ch) for ch in bad)} not allowed; tags hold letters, digits, spaces "
                "and _ . : / = + - @ (the rule every AWS service that receives them shares)"
            )
    return None


class Config(Strict):
    """An `mlops` configuration file."""

    extends: str | None = Field(None, description="A base config file this one overlays (relative path).")
    project: ProjectName
    environment: EnvironmentName
    aws: AwsConfig
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags on every resource.")
    dataset: Dataset
    storage: Storage = Field(default_factory=Storage)
    network: Network = Field(default_factory=Network)
    preprocess: Preprocess = Field(default_factory=Preprocess)
    train: Train = Field(default_factory=Train)
    # `register` would shadow pydantic's BaseModel.register: the YAML key stays `register`
    registry: Register = Field(default_factory=Register, alias="register")
    deploy: Deploy = Field(default_factory=Deploy)
    gateway: Gateway = Field(default_factory=Gateway)
    lb: LoadBalancer | None = Field(None, description="A load balancer in front of the model (`mlops lb`).")

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > USER_TAGS_MAX:
            raise ValueError(
                f"{len(value)} tags: at most {USER_TAGS_MAX} (AWS allows 50 per resource and mlops adds its own)"
            )
        problems = [p for key, tag_value in value.items() if (p := tag_problem(key, tag_value))]
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("lb")
    @classmethod
    def _production_is_encrypted(cls, lb: LoadBalancer | None, info: Any) -> LoadBalancer | None:
        # a field validator (environment is validated before lb) so that the error points at the lb section
        plain = lb is not None and lb.certificate_arn is None and not lb.allow_plain_http
        if info.data.get("environment") == "prod" and plain:
            raise ValueError(
                "certificate_arn is required in prod: the load balancer serves HTTPS (HTTP is redirected to it); "
                "or set allow_plain_http: true with plain_http_reason"
            )
        return lb

    @model_validator(mode="after")
    def _production_is_redundant(self) -> Config:
        if self.environment == "prod" and self.deploy.instance_count < 2:
            raise ValueError(
                "deploy.instance_count must be at least 2 in prod (one instance is a single point of failure)"
            )
        return self

    @model_validator(mode="after")
    def _load_balancer_logs_have_a_bucket(self) -> Config:
        if self.lb is not None and self.lb.access_logs and not self.storage.access_logging:
            raise ValueError(
                "lb.access_logs needs storage.access_logging (the log bucket); or set lb.access_logs: false"
            )
        return self

    @model_validator(mode="after")
    def _inference_code(self) -> Config:
        # the serving image is the one the model was trained with (register), so train's Python decides
        try:
            _compiles(self.deploy.inference, self.train.framework_version, handler=True)
        except ValueError as exc:
            raise ValueError(f"deploy.inference {exc}") from None
        schedule = self.preprocess.schedule
        custom = "deploy.inference" if self.deploy.inference else "train.script" if self.train.script else None
        if custom and schedule and schedule.continuous_training and self.network.isolation:
            raise ValueError(
                f"preprocess.schedule.continuous_training cannot register a model with {custom} under "
                "network.isolation: an isolated serving container cannot download its handler code, and the "
                "scheduled pipeline has no step to pack it into model.tar.gz (register the model with `mlops "
                "register model`, which does, or turn network.isolation off)"
            )
        return self

    @field_validator("train", mode="before")
    @classmethod
    def _hyperparameters(cls, value: Any, info: ValidationInfo) -> Any:
        """The fixed hyperparameters, as written (a YAML true is not a 1), suit the estimators of the dataset's task
        (of every task when the dataset is refused). A field validator: the dataset is validated before train."""
        hyperparameters = value.get("hyperparameters") if isinstance(value, dict) else None
        if not isinstance(hyperparameters, dict):
            return value  # the default, or a shape pydantic refuses
        if value.get("script"):  # the team's own script takes its own hyperparameters, not train.py's
            return value
        task = _task_of(info)
        algorithm = hyperparameters.get("algorithm", DEFAULT_ALGORITHM)
        algorithms = (algorithm,) if algorithm in ALGORITHMS else ()
        problems: list[Located] = [
            (("hyperparameters", name), item, p)
            for name, item in hyperparameters.items()
            if (p := hyperparameter_problem(str(name), item, algorithms, task))
        ]
        if problems:
            raise _located(problems)
        return value

    @field_validator("train")
    @classmethod
    def _train_fits_the_task(cls, train: Train, info: ValidationInfo) -> Train:
        """The tuning ranges suit the task's estimators; the objective is a metric the task's jobs report, in the
        direction it improves in, and the task's default when the config names none."""
        task = _task_of(info)
        problems = train.range_problems(task) if train.script is None else []  # a team's script: its own ranges
        if task is None:  # the dataset is refused: the ranges are checked against every task's estimators
            if problems:
                raise _located(problems)
            return train
        objective = train.objective
        given = objective.model_fields_set if "objective" in train.model_fields_set else set()
        if "metric" not in given:
            metric, goal = DEFAULT_OBJECTIVES[task]
            train.objective = objective = Objective(metric=metric, goal=objective.goal if "goal" in given else goal)
        elif "goal" not in given:
            train.objective = objective = Objective(metric=objective.metric, goal=natural_goal(objective.metric))
        offered = job_metrics(task)
        name = objective.metric.split(":", 1)[1]
        if objective.metric not in offered:
            problems.append(
                (
                    ("objective", "metric"),
                    objective.metric,
                    f"{objective.metric} is not a metric of the {task} task; its training jobs report "
                    f"{', '.join(offered)}",
                )
            )
        elif objective.goal != natural_goal(name):
            better = "lower" if natural_goal(name) == "minimize" else "higher"
            problems.append(
                (
                    ("objective", "goal"),
                    objective.goal,
                    f"goal {objective.goal} would prefer the worst models: {name} is better {better} "
                    f"(goal: {natural_goal(name)})",
                )
            )
        if problems:
            raise _located(problems)
        return train

    @field_validator("registry")
    @classmethod
    def _threshold_can_be_reached(cls, registry: Register, info: ValidationInfo) -> Register:
        """register.min_metric lies within the values the objective's metric can take, in the goal's direction."""
        train, threshold = info.data.get("train"), registry.min_metric
        if not isinstance(train, Train) or threshold is None:
            return registry
        objective = train.objective
        low, high = METRIC_RANGES.get(objective.metric.split(":", 1)[1], (-math.inf, math.inf))
        if objective.goal == "maximize" and threshold > high:
            raise _at(
                ("min_metric",),
                threshold,
                f"{threshold:g} can never be reached: {objective.metric} is at most {high:g} (goal maximize)",
            )
        if objective.goal == "minimize" and threshold < low:
            raise _at(
                ("min_metric",),
                threshold,
                f"{threshold:g} can never be reached: {objective.metric} is at least {low:g} (goal minimize)",
            )
        return registry

    @model_validator(mode="after")
    def _derived_names(self) -> Config:
        names = self.names()
        problems = [p for field_problems in names.problems().values() for p in field_problems]
        if problems:
            raise ValueError("; ".join(problems) + " (shorten project/environment or set storage.bucket)")
        return self

    def names(self, account: str | None = None) -> ResourceNames:
        kwargs = {"account": account} if account else {}
        return ResourceNames(
            project=self.project,
            environment=self.environment,
            region=self.aws.region,
            bucket_override=self.storage.bucket,
            log_bucket_override=self.storage.log_bucket,
            **kwargs,
        )

    def standard_tags(self, stage: str) -> dict[str, str]:
        """The tags every resource carries (DESIGN.md, principle 1), the user's first so ours win."""
        return {
            **self.tags,
            "mlops:project": self.project,
            "mlops:environment": self.environment,
            "mlops:stage": stage,
        }


def _field_at(path: tuple[str | int, ...]) -> Any:
    """The FieldInfo of the setting at `path` (keys by their YAML names), or None."""
    import typing

    model: Any = Config
    info = None
    for part in path:
        if isinstance(part, int) or model is None:  # a list index, or a key of a free mapping
            continue
        fields = {(f.alias or name): f for name, f in model.model_fields.items()}
        info = fields.get(part)
        if info is None:
            return None
        candidates = [info.annotation, *typing.get_args(info.annotation)]
        candidates += [arg for c in list(candidates) for arg in typing.get_args(c)]
        model = next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)
    return info


def bounds_rule(path: tuple[str | int, ...]) -> str | None:
    """'must be between 0 and 3600 (why)' for a number setting, from its bounds and description; None when the
    setting has no bounds."""
    import annotated_types

    info = _field_at(path)
    if info is None:
        return None
    low = next((m.ge for m in info.metadata if isinstance(m, annotated_types.Ge)), None)
    above = next((m.gt for m in info.metadata if isinstance(m, annotated_types.Gt)), None)
    high = next((m.le for m in info.metadata if isinstance(m, annotated_types.Le)), None)
    below = next((m.lt for m in info.metadata if isinstance(m, annotated_types.Lt)), None)
    parts = [
        f">= {low}" if low is not None else f"> {above}" if above is not None else None,
        f"<= {high}" if high is not None else f"< {below}" if below is not None else None,
    ]
    bounds = " and ".join(p for p in parts if p)
    if not bounds:
        return None
    why = "the largest number AWS's APIs take, a 32-bit Integer" if high == AWS_INTEGER_MAX else info.description
    kind = "a whole number" if info.annotation is int else "a finite number"
    return f"must be {kind} {bounds}" + (f" ({why[0].lower()}{why[1:].rstrip('.')})" if why else "")
