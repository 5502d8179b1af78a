"""The Model Registry: every model worth keeping becomes a version in the project's model package group
`<project>-<env>`, approved (by a person, or by the objective against `register.min_metric`) before it may be
deployed.

A version carries everything needed to serve it without looking anywhere else: the scikit-learn serving image the
model was trained with, model.tar.gz (which holds inference.py under code/), the serving environment, the
evaluation on the test split as its model quality metrics, and metadata that ties it to its training job, data and
code. AWS is the state: a version is found again by its model artifact and serving environment, so registering the
same training job twice creates nothing.

With the team's own handler (`deploy.inference`), or a model from the team's `train.script` (which packs no handler:
ours serves it), the handler bundle is uploaded to code/<sha256>/sourcedir.tar.gz and the container's
SAGEMAKER_SUBMIT_DIRECTORY names it, as the SageMaker SDK does for a Model with entry_point and source_dir. An
isolated container (network.isolation) cannot download it, so model.tar.gz is repacked with code/ replaced, under a
key derived from the training job and the handler's digest, as the SDK repacks.

`deploy` uses `approved_versions` and `get_version` (both return `ModelVersion`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.aws.tags import as_key_value, from_key_value
from mlops_cli.config.models import Config, Objective, Register
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services import jobs
from mlops_cli.services.code import Scripts, bundle_files, bundle_sha256, scripts, sourcedir_tarball, upload_bundle
from mlops_cli.services.convergence import Control, ControlResult, converge
from mlops_cli.services.experiments import CompareRow, data_job, existing_evaluation, job_metrics

if TYPE_CHECKING:
    from mlops_cli.services.train import ModelChoice

STAGE = "register"
PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
CONTENT_TYPES = ["application/json", "text/csv"]  # what mlops_cli/container_scripts/inference.py accepts and answers
SERVING_PROGRAM = "inference.py"
SERVING_CODE_DIR = "/opt/ml/model/code"  # train.py packs inference.py into model.tar.gz under code/
MAX_REASON = 1024  # ApprovalDescription
_MISSING = ("ValidationException", "ResourceNotFound")
_CODE_DIGEST = re.compile(r"/code/([0-9a-f]{64})/")
_VERSION_ARN = re.compile(r":model-package/[^/]+/(\d+)$")


@dataclass
class ModelVersion:
    """One version of the project's model package group, as deploy needs it."""

    arn: str
    number: int
    status: str  # PendingManualApproval | Approved | Rejected
    model_data_url: str
    image: str
    environment: dict[str, str]
    objective: float | None  # the value of train.objective.metric the training job reported
    training_job: str | None
    created: dt.datetime | None
    objective_metric: str | None = None
    approval_description: str | None = None
    description: str | None = None
    modified: dt.datetime | None = None
    metrics_uri: str | None = None  # evaluation.json, the version's ModelQuality statistics
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApprovalDecision:
    status: str
    reason: str | None


@dataclass
class Registration:
    action: str  # created | unchanged
    group: str
    group_controls: list[ControlResult]
    version: ModelVersion
    decision: ApprovalDecision | None  # None when the version existed already
    evaluation: str | None
    warnings: list[str] = field(default_factory=list)
    chosen: str = ""  # why this training job (train.ModelChoice.reason)


@dataclass
class ApprovalChange:
    action: str  # updated | unchanged
    previous_status: str
    version: ModelVersion
    warnings: list[str] = field(default_factory=list)


@dataclass
class DeployedVariant:
    variant: str
    model: str
    version: int | None  # None: the model is not one of the group's versions
    weight: float | None


@dataclass
class Deployment:
    endpoint: str
    status: str
    endpoint_config: str
    variants: list[DeployedVariant]

    @property
    def versions(self) -> list[int]:
        return sorted({v.version for v in self.variants if v.version is not None})


@dataclass
class Listing:
    group: str
    versions: list[ModelVersion]
    deployment: Deployment | None
    deployed_versions: list[int]


@dataclass
class VersionDetails:
    version: ModelVersion
    evaluation: dict[str, Any] | None  # evaluation.json
    training_metrics: dict[str, float]
    deployed: bool
    deployment: Deployment | None


def group_name(config: Config) -> str:
    return config.names().prefix


# --- approval policy (pure) ----------------------------------------------------------------------------------------


def decide_approval(policy: Register, objective: Objective, value: float | None) -> ApprovalDecision:
    """`manual`: a person decides (PendingManualApproval). `auto`: Approved when the objective meets
    `min_metric` in the direction of the goal, otherwise Rejected, with the reason either way."""
    if policy.approval == "manual":
        return ApprovalDecision(PENDING, None)
    threshold = policy.min_metric
    if threshold is None:  # the config refuses approval: auto without min_metric; kept for type safety
        raise UsageError("register.approval is auto but register.min_metric is not set.")
    metric = objective.metric
    if value is None:
        return ApprovalDecision(REJECTED, f"Automatic approval: the training job reported no {metric}.")
    maximize = objective.goal == "maximize"
    passes = value >= threshold if maximize else value <= threshold
    bound = "minimum" if maximize else "maximum"
    if passes:
        verb = "meets"
        return ApprovalDecision(
            APPROVED,
            f"Automatic approval: {metric} {value:.4f} {verb} the {bound} {threshold:g} (register.min_metric).",
        )
    verb = "is below" if maximize else "is above"
    return ApprovalDecision(
        REJECTED,
        f"Automatic approval: {metric} {value:.4f} {verb} the {bound} {threshold:g} (register.min_metric, "
        f"goal {objective.goal}).",
    )


# --- the group -----------------------------------------------------------------------------------------------------


def ensure_model_package_group(clients: AwsClients, config: Config) -> list[ControlResult]:
    """The project's model package group with the standard tags: created, tagged, or left alone."""
    sagemaker = clients.client("sagemaker")
    name = group_name(config)
    tags = config.standard_tags(STAGE)

    def read() -> str | None:
        found = get_or_none(
            f"describing model package group {name}",
            _MISSING,
            sagemaker.describe_model_package_group,
            ModelPackageGroupName=name,
        )
        return None if found is None else str(found["ModelPackageGroupArn"])

    def create() -> None:
        with aws_errors(f"creating model package group {name}"):
            sagemaker.create_model_package_group(
                ModelPackageGroupName=name,
                ModelPackageGroupDescription=f"Models of {config.project} ({config.environment}), registered by mlops",
                Tags=as_key_value(tags),
            )

    def read_tags() -> dict[str, str] | None:
        arn = read()
        if arn is None:
            return None
        with aws_errors(f"reading the tags of model package group {name}"):
            actual = from_key_value(sagemaker.list_tags(ResourceArn=arn).get("Tags"))
        return {key: actual[key] for key in tags if key in actual} or None

    def write_tags() -> None:
        with aws_errors(f"tagging model package group {name}"):
            sagemaker.add_tags(ResourceArn=read(), Tags=as_key_value(tags))

    return converge(
        [
            Control("model package group", name, lambda: name if read() else None, create),
            Control("model package group tags", tags, read_tags, write_tags, parent="model package group"),
        ]
    )


# --- reading versions ----------------------------------------------------------------------------------------------


def model_version(description: dict[str, Any]) -> ModelVersion:
    """A ModelVersion from DescribeModelPackage's answer."""
    container = (description.get("InferenceSpecification", {}).get("Containers") or [{}])[0]
    metadata = dict(description.get("CustomerMetadataProperties") or {})
    model_data_url = container.get("ModelDataUrl", "")
    objective = metadata.get("objective-value")
    statistics = description.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    return ModelVersion(
        arn=description["ModelPackageArn"],
        number=int(description.get("ModelPackageVersion", 0)),
        status=description.get("ModelApprovalStatus", PENDING),
        model_data_url=model_data_url,
        image=container.get("Image", ""),
        environment=dict(container.get("Environment") or {}),
        objective=float(objective) if objective else None,
        training_job=metadata.get("training-job") or _job_of(model_data_url),
        created=description.get("CreationTime"),
        objective_metric=metadata.get("objective-metric"),
        approval_description=description.get("ApprovalDescription"),
        description=description.get("ModelPackageDescription"),
        modified=description.get("LastModifiedTime"),
        metrics_uri=statistics.get("S3Uri"),
        metadata=metadata,
    )


def _job_of(model_data_url: str) -> str | None:
    # s3://bucket/models/<dataset>/<job>/output/model.tar.gz
    parts = model_data_url.rsplit("/", 3)
    return parts[1] if len(parts) == 4 and parts[2] == "output" else None


def _describe(clients: AwsClients, arn: str) -> dict[str, Any] | None:
    return get_or_none(
        f"describing model package {arn}",
        _MISSING,
        clients.client("sagemaker").describe_model_package,
        ModelPackageName=arn,
    )


def _summaries(
    clients: AwsClients,
    config: Config,
    *,
    status: str | None = None,
    created_after: dt.datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The group's versions (summaries), newest first; none when the group does not exist yet."""
    sagemaker = clients.client("sagemaker")
    name = group_name(config)
    if (
        get_or_none(f"describing {name}", _MISSING, sagemaker.describe_model_package_group, ModelPackageGroupName=name)
        is None
    ):
        return []
    kwargs: dict[str, Any] = {"ModelPackageGroupName": name, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if status:
        kwargs["ModelApprovalStatus"] = status
    if created_after:
        kwargs["CreationTimeAfter"] = created_after
    if limit:
        kwargs["PaginationConfig"] = {"MaxItems": limit}
    with aws_errors(f"listing the versions of {name}"):
        pages = sagemaker.get_paginator("list_model_packages").paginate(**kwargs)
        summaries = [s for page in pages for s in page["ModelPackageSummaryList"]]
    return sorted(summaries, key=lambda s: int(s.get("ModelPackageVersion", 0)), reverse=True)


def _versions(clients: AwsClients, summaries: list[dict[str, Any]]) -> list[ModelVersion]:
    found = (_describe(clients, s["ModelPackageArn"]) for s in summaries)
    return [model_version(d) for d in found if d is not None]


def list_versions(clients: AwsClients, config: Config, *, limit: int | None = None) -> list[ModelVersion]:
    """Every version (or the newest `limit`), newest first."""
    return _versions(clients, _summaries(clients, config, limit=limit))


def approved_versions(clients: AwsClients, config: Config) -> list[ModelVersion]:
    """The versions that may be deployed, newest first (empty when nothing is approved)."""
    return _versions(clients, _summaries(clients, config, status=APPROVED))


def version_arn(clients: AwsClients, config: Config, number: int) -> str:
    return (
        f"arn:{clients.partition}:sagemaker:{clients.region}:{clients.account_id}:"
        f"model-package/{group_name(config).lower()}/{number}"
    )


def get_version(clients: AwsClients, config: Config, number: int | str) -> ModelVersion:
    """A version by number (3 or "3"), or "latest" / "latest-approved". PreconditionFailed (exit 3) when there is
    no such version; UsageError (exit 2) for a reference that is none of these."""
    group = group_name(config)
    ref = str(number).strip().lower()
    if ref in ("latest", "latest-approved"):
        status = APPROVED if ref == "latest-approved" else None
        summaries = _summaries(clients, config, status=status, limit=1)
        if not summaries:
            what = "approved version" if status else "version"
            hint = (
                "Approve one with `mlops register approve N --reason …`."
                if status
                else "Register one with `mlops register model`."
            )
            raise PreconditionFailed(f"There is no {what} in model package group {group} yet.", hint=hint)
        described = _describe(clients, summaries[0]["ModelPackageArn"])
    elif ref.isdigit() and int(ref) > 0:
        described = _describe(clients, version_arn(clients, config, int(ref)))
    else:
        raise UsageError(f"'{number}' is not a model version: give a number (1, 2, …), latest or latest-approved.")
    if described is None:
        raise PreconditionFailed(
            f"Model package group {group} has no version {ref}.", hint="`mlops register list` shows the versions."
        )
    return model_version(described)


# --- registering ---------------------------------------------------------------------------------------------------


def find_version(clients: AwsClients, config: Config, state: jobs.JobState) -> ModelVersion | None:
    """The version already registered for this training job: the one serving its model.tar.gz with the handler
    the config names now (another handler for the same model is another version). Only versions created after
    the job are candidates."""
    serving = serving_spec(clients, config, state.description["ModelArtifacts"]["S3ModelArtifacts"])
    since = state.created - dt.timedelta(minutes=1) if state.created else None
    for version in _versions(clients, _summaries(clients, config, created_after=since)):
        if version.model_data_url == serving.model_data_url and _same_handler(version.environment, serving.environment):
            return version
    return None


def _same_handler(a: dict[str, str], b: dict[str, str]) -> bool:
    return all(a.get(key) == b.get(key) for key in ("SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY"))


def register_model(
    clients: AwsClients,
    config: Config,
    training_job: str | None = None,
    *,
    tuning_job: str | None = None,
    choice: ModelChoice | None = None,
) -> Registration:
    """A new version for the model `train.choose_model` picks (a named training job, the best trial of a named
    tuning job, or the latest), approved as `register.approval` says; `unchanged` when that job is registered
    already. The registration says which job was taken and why."""
    from mlops_cli.services.train import choose_model

    if choice is None:
        choice = choose_model(clients, config, training_job=training_job, tuning_job=tuning_job)
    state = choice.job
    controls = ensure_model_package_group(clients, config)
    group = group_name(config)
    model_uri = state.description["ModelArtifacts"]["S3ModelArtifacts"]
    evaluation = existing_evaluation(clients, model_uri)
    warnings = []
    if evaluation is None:
        warnings.append(
            f"Training job {state.name} has no evaluation yet, so the version has no model quality metrics. "
            f"Run `mlops train evaluate {state.name} --wait` before registering to attach them."
        )
    if (existing := find_version(clients, config, state)) is not None:
        if existing.metrics_uri is None and evaluation:
            warnings = [
                f"Version {existing.number} was registered before {state.name} was evaluated, so it has no model "
                "quality metrics (`mlops register show` reads the evaluation anyway)."
            ]
        return Registration(
            "unchanged", group, controls, existing, None, existing.metrics_uri or evaluation, warnings, choice.reason
        )
    objective = config.train.objective
    value = job_metrics(state).get(objective.metric)
    decision = decide_approval(config.registry, objective, value)
    request = _package_request(clients, config, state, value, evaluation)
    request["ModelApprovalStatus"] = decision.status
    sagemaker = clients.client("sagemaker")
    with aws_errors(f"creating a model version in {group}"):
        arn = sagemaker.create_model_package(**request)["ModelPackageArn"]
    if decision.reason:  # CreateModelPackage has no ApprovalDescription; the reason is set right after
        with aws_errors(f"recording the approval of {arn}"):
            sagemaker.update_model_package(
                ModelPackageArn=arn, ModelApprovalStatus=decision.status, ApprovalDescription=decision.reason
            )
    described = _describe(clients, arn)
    if described is None:
        raise PreconditionFailed(f"The new version {arn} cannot be read back.")
    return Registration(
        "created", group, controls, model_version(described), decision, evaluation, warnings, choice.reason
    )


def serving_environment(
    region: str, program: str = SERVING_PROGRAM, submit_directory: str = SERVING_CODE_DIR
) -> dict[str, str]:
    """What the scikit-learn serving container needs to load the handler: by default ours from model.tar.gz."""
    return {
        "SAGEMAKER_PROGRAM": program,
        "SAGEMAKER_SUBMIT_DIRECTORY": submit_directory,
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": region,
    }


def serving_scripts(config: Config) -> Scripts | None:
    """The handler bundle served apart from model.tar.gz: the team's deploy.inference; ours when the model comes
    from the team's train.script (which packs no handler into the model). None: the handler train.py packed."""
    if config.deploy.inference is not None:
        return scripts(config, config.deploy.inference, SERVING_PROGRAM)
    if config.train.script is not None:
        return Scripts(bundle_files(config, (SERVING_PROGRAM,)), SERVING_PROGRAM)
    return None


@dataclass(frozen=True)
class ServingSpec:
    """Where a version's container finds the model and its handler."""

    model_data_url: str
    environment: dict[str, str]
    code: Scripts | None = field(default=None, repr=False)  # None: the handler packed in model.tar.gz by train.py

    @property
    def bundle(self) -> dict[str, bytes] | None:
        """The handler bundle as the serving container downloads it: one sourcedir.tar.gz."""
        return None if self.code is None else {"sourcedir.tar.gz": sourcedir_tarball(self.code.files)}

    @property
    def code_sha256(self) -> str | None:
        """The handler bundle's digest (its S3 prefix is code/<this>/), recorded as inference-code-sha256."""
        bundle = self.bundle
        return None if bundle is None else bundle_sha256(bundle)

    @property
    def repacked(self) -> bool:
        return self.code is not None and self.environment["SAGEMAKER_SUBMIT_DIRECTORY"] == SERVING_CODE_DIR


def repacked_uri(model_uri: str, code_sha256: str) -> str:
    """model.tar.gz with code/ replaced by the handler bundle: one key per training job and handler, so that the
    same job registered twice with the same handler is the same version."""
    return f"{model_uri.rsplit('/', 1)[0]}/repacked/{code_sha256}/model.tar.gz"


def serving_spec(clients: AwsClients, config: Config, model_uri: str) -> ServingSpec:
    """How the version of the model at `model_uri` is served (computed; nothing is uploaded, see publish_serving)."""
    code = serving_scripts(config)
    if code is None:
        return ServingSpec(model_uri, serving_environment(clients.region))
    sha = ServingSpec(model_uri, {}, code).code_sha256 or ""
    if config.network.isolation:
        return ServingSpec(repacked_uri(model_uri, sha), serving_environment(clients.region, code.entry_point), code)
    submit_directory = f"s3://{config.names(clients.account_id).data_bucket}/code/{sha}/sourcedir.tar.gz"
    return ServingSpec(model_uri, serving_environment(clients.region, code.entry_point, submit_directory), code)


def publish_serving(clients: AwsClients, config: Config, model_uri: str, serving: ServingSpec) -> None:
    """Put the handler where `serving` says: its bundle under code/<sha256>/, or into a repacked model.tar.gz.
    Either is written once: a second call finds it there."""
    bundle = serving.bundle
    if serving.code is None or bundle is None:
        return
    if serving.repacked:
        _repack(clients, model_uri, serving.model_data_url, serving.code.files)
    else:
        upload_bundle(clients, config, bundle)


def _repack(clients: AwsClients, model_uri: str, target_uri: str, code: dict[str, bytes]) -> None:
    """Copy model.tar.gz to `target_uri` with its code/ folder replaced by `code` (skipped when it is there)."""
    import gzip
    import io
    import tarfile
    import tempfile

    s3 = clients.client("s3")
    bucket, _, key = target_uri.removeprefix("s3://").partition("/")
    if get_or_none(f"checking {target_uri}", ("404", "NoSuchKey", "NotFound"), s3.head_object, Bucket=bucket, Key=key):
        return
    source_bucket, _, source_key = model_uri.removeprefix("s3://").partition("/")
    with tempfile.TemporaryFile() as source, tempfile.TemporaryFile() as target:
        with aws_errors(f"downloading {model_uri} to repack it with the handler code"):
            s3.download_fileobj(source_bucket, source_key, source)
        source.seek(0)
        with (
            tarfile.open(fileobj=source, mode="r:gz") as old,
            gzip.GzipFile(fileobj=target, mode="wb", mtime=0) as packed,
            tarfile.open(fileobj=packed, mode="w") as new,
        ):
            for member in old:
                top = member.name.removeprefix("./").split("/", 1)[0]
                if top == "code":  # the handler the training job packed (if any) gives way to the bundle's
                    continue
                new.addfile(member, old.extractfile(member) if member.isfile() else None)
            for name in sorted(code):
                info = tarfile.TarInfo(f"code/{name}")
                info.size, info.mode, info.mtime = len(code[name]), 0o644, 0
                new.addfile(info, io.BytesIO(code[name]))
        target.seek(0)
        with aws_errors(f"uploading the repacked model to {target_uri}"):
            s3.put_object(Bucket=bucket, Key=key, Body=target, ChecksumAlgorithm="SHA256")


def _package_request(
    clients: AwsClients, config: Config, state: jobs.JobState, value: float | None, evaluation: str | None
) -> dict[str, Any]:
    from mlops_cli.aws.images import sklearn_image_uri

    d = state.description
    model_uri = d["ModelArtifacts"]["S3ModelArtifacts"]
    serving = serving_spec(clients, config, model_uri)
    publish_serving(clients, config, model_uri, serving)
    # the image the model was trained with serves it: the same scikit-learn that pickled it unpickles it
    image = d.get("AlgorithmSpecification", {}).get("TrainingImage") or sklearn_image_uri(
        clients.region, config.train.framework_version
    )
    framework_version = image.rsplit(":", 1)[-1].removesuffix("-cpu-py3").split("-py")[0]
    container: dict[str, Any] = {
        "Image": image,
        "ModelDataUrl": serving.model_data_url,
        "Environment": serving.environment,
        "Framework": "SKLEARN",
    }
    if re.fullmatch(r"[0-9]\.[A-Za-z0-9.-]{1,8}", framework_version):
        container["FrameworkVersion"] = framework_version
    objective = config.train.objective
    metadata = {
        "training-job": state.name,
        "data-job": data_job(state),
        "data-manifest": f"{d.get('OutputDataConfig', {}).get('S3OutputPath', '').rstrip('/')}/{state.name}/input-manifest.json",
        "code-sha256": _code_digest(d),
        "inference-code-sha256": serving.code_sha256,
        "objective-metric": objective.metric,
        "objective-value": None if value is None else repr(value),
        "dataset": config.dataset.name,
    }
    summary = f"{objective.metric}={value:.4f}" if value is not None else f"no {objective.metric}"
    request: dict[str, Any] = {
        "ModelPackageGroupName": group_name(config),
        "ModelPackageDescription": f"{config.dataset.name} model from training job {state.name} ({summary})",
        "InferenceSpecification": {
            "Containers": [container],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": CONTENT_TYPES,
        },
        "CustomerMetadataProperties": {key: value for key, value in metadata.items() if value},
        "MetadataProperties": {"GeneratedBy": d.get("TrainingJobArn", state.name)},
        "Tags": as_key_value(
            {**config.standard_tags(STAGE), "mlops:training-job": state.name, "mlops:dataset": config.dataset.name}
        ),
    }
    if evaluation:
        request["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": evaluation}}
        }
    return request


def _code_digest(description: dict[str, Any]) -> str | None:
    """The sha256 of the code bundle: sourcedir.tar.gz lives under code/<sha256>/ (services/code.py), named by
    sagemaker_submit_directory or, with network isolation, by the "code" input channel."""
    places = [description.get("HyperParameters", {}).get("sagemaker_submit_directory", "")]
    places += [
        channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
        for channel in description.get("InputDataConfig") or []
        if channel.get("ChannelName") == "code"
    ]
    found = next((match for place in places if (match := _CODE_DIGEST.search(place))), None)
    return found.group(1) if found else None


# --- approving -----------------------------------------------------------------------------------------------------


def set_approval(clients: AwsClients, config: Config, ref: int | str, status: str, reason: str) -> ApprovalChange:
    """Approve or reject a version with the reason recorded; a version that has that status already is left as it
    is (`unchanged`)."""
    if status not in (APPROVED, REJECTED):
        raise UsageError(f"'{status}' is not an approval status ({APPROVED} or {REJECTED}).")
    reason = reason.strip()
    if not reason:
        raise UsageError("--reason must say why (it is recorded as the version's approval description).")
    if len(reason) > MAX_REASON:
        raise UsageError(f"--reason is {len(reason)} characters long; at most {MAX_REASON} are kept.")
    version = get_version(clients, config, ref)
    warnings = []
    deployment = deployed(clients, config, [version]) if status == REJECTED else None
    if deployment and version.number in deployment.versions:
        warnings.append(
            f"Version {version.number} is deployed on endpoint {group_name(config)}; rejecting it does not take it "
            "down. Deploy another version (`mlops deploy apply`) or roll back (`mlops deploy rollback`)."
        )
    if version.status == status:
        return ApprovalChange("unchanged", version.status, version, warnings)
    with aws_errors(f"setting model version {version.number} to {status}"):
        clients.client("sagemaker").update_model_package(
            ModelPackageArn=version.arn, ModelApprovalStatus=status, ApprovalDescription=reason
        )
    return ApprovalChange("updated", version.status, get_version(clients, config, version.number), warnings)


# --- what is deployed ----------------------------------------------------------------------------------------------


def deployed(clients: AwsClients, config: Config, versions: list[ModelVersion] | None = None) -> Deployment | None:
    """The endpoint `<project>-<env>` and the versions its variants serve; None when there is no endpoint. A model
    made from a model package names its ARN; one made from image and model data is matched by its ModelDataUrl."""
    sagemaker = clients.client("sagemaker")
    name = config.names().prefix
    endpoint = get_or_none(f"describing endpoint {name}", _MISSING, sagemaker.describe_endpoint, EndpointName=name)
    if endpoint is None or not endpoint.get("EndpointConfigName"):
        return None
    config_name = endpoint["EndpointConfigName"]
    endpoint_config = get_or_none(
        f"describing endpoint config {config_name}",
        _MISSING,
        sagemaker.describe_endpoint_config,
        EndpointConfigName=config_name,
    )
    weights = {v["VariantName"]: v.get("CurrentWeight") for v in endpoint.get("ProductionVariants", [])}
    variants = []
    for variant in (endpoint_config or {}).get("ProductionVariants", []):
        model = get_or_none(
            f"describing model {variant['ModelName']}",
            _MISSING,
            sagemaker.describe_model,
            ModelName=variant["ModelName"],
        )
        number = _version_of_model(model or {}, versions)
        weight = weights.get(variant["VariantName"], variant.get("InitialVariantWeight"))
        variants.append(DeployedVariant(variant["VariantName"], variant["ModelName"], number, weight))
    return Deployment(name, endpoint.get("EndpointStatus", ""), config_name, variants)


def _version_of_model(model: dict[str, Any], versions: list[ModelVersion] | None) -> int | None:
    containers = model.get("Containers") or [model.get("PrimaryContainer") or {}]
    for container in containers:
        if match := _VERSION_ARN.search(container.get("ModelPackageName") or ""):
            return int(match.group(1))
        url = container.get("ModelDataUrl")
        for version in versions or []:
            if url and version.model_data_url == url:
                return version.number
    return None


def list_registry(clients: AwsClients, config: Config, *, limit: int | None = None) -> Listing:
    versions = list_versions(clients, config, limit=limit)
    deployment = deployed(clients, config, versions)
    return Listing(group_name(config), versions, deployment, deployment.versions if deployment else [])


def show_version(clients: AwsClients, config: Config, ref: int | str) -> VersionDetails:
    """Everything about a version: the package, its evaluation (test metrics), its training job's metrics, and
    whether the endpoint serves it."""
    from mlops_cli.services.train import read_evaluation

    version = get_version(clients, config, ref)
    uri = version.metrics_uri or existing_evaluation(clients, version.model_data_url)
    evaluation = read_evaluation(clients, uri.rsplit("/", 1)[0]) if uri else None
    training: dict[str, float] = {}
    if version.training_job:
        try:
            training = job_metrics(jobs.describe_job(clients, jobs.Kind.TRAINING, version.training_job))
        except PreconditionFailed:  # the job is gone; the version stands on its own
            training = {}
    deployment = deployed(clients, config, [version])
    return VersionDetails(
        version, evaluation, training, bool(deployment and version.number in deployment.versions), deployment
    )


# --- comparing code ------------------------------------------------------------------------------------------------


def is_version_ref(ref: str) -> bool:
    """A version number or latest/latest-approved, as opposed to a training job's name."""
    return ref.strip().lower() in ("latest", "latest-approved") or ref.strip().isdigit()


def version_code(version: ModelVersion) -> tuple[str | None, str | None]:
    """(training code, inference code) of a version by their digests. A handler packed into model.tar.gz by the
    training code is that code's: it differs exactly when the training code does."""
    training = version.metadata.get("code-sha256")
    inference = version.metadata.get("inference-code-sha256")
    if inference is None and training is not None:
        inference = f"in model.tar.gz (training code {training[:12]})"
    return training, inference


def run_code(clients: AwsClients, config: Config, job_name: str) -> tuple[str | None, str | None]:
    """(training code, inference code) of a training run: its job's code bundle, and the handlers of the versions
    registered from it (`not registered` when there is none)."""
    training = _code_digest(jobs.describe_job(clients, jobs.Kind.TRAINING, job_name).description)
    handlers = [
        (version.number, version_code(version)[1])
        for version in reversed(list_versions(clients, config))
        if version.training_job == job_name
    ]
    if not handlers:
        return training, "not registered"
    if len({handler for _, handler in handlers}) == 1:
        return training, handlers[0][1]
    return training, ", ".join(f"version {number}: {handler}" for number, handler in handlers)


def code_rows(a: tuple[str | None, str | None], b: tuple[str | None, str | None]) -> list[CompareRow]:
    """Training and inference code of two runs or versions side by side, by digest."""
    return [
        CompareRow(name, left, right, left == right)
        for name, left, right in (("training code", a[0], b[0]), ("inference code", a[1], b[1]))
    ]


def compared_versions(clients: AwsClients, config: Config, a: str, b: str) -> list[ModelVersion] | None:
    """The two versions `register compare` names (both version references), or None for two training runs."""
    if not (is_version_ref(a) and is_version_ref(b)):
        return None
    versions = [get_version(clients, config, ref) for ref in (a, b)]
    for version in versions:
        if not version.training_job:
            raise PreconditionFailed(f"Version {version.number} names no training job, so it has no run to compare.")
    return versions


def compare_code(
    clients: AwsClients, config: Config, jobs_compared: tuple[str, str], versions: list[ModelVersion] | None
) -> list[CompareRow]:
    """Whether two versions (or two training runs) differ in training or inference code."""
    if versions is not None:
        return code_rows(version_code(versions[0]), version_code(versions[1]))
    return code_rows(run_code(clients, config, jobs_compared[0]), run_code(clients, config, jobs_compared[1]))
