"""The preprocessing stage: SageMaker Processing jobs that run mlops_cli/container_scripts/preprocess.py on the raw batches."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from mlops_cli.aws.errors import aws_errors
from mlops_cli.aws.images import sklearn_image_uri
from mlops_cli.aws.s3 import require_bucket
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import PreconditionFailed, UsageError
from mlops_cli.services import jobs
from mlops_cli.services.code import Scripts, bundle_sha256, processing_files, scripts, upload_bundle
from mlops_cli.services.processing import CODE_DIR, INPUT_DIR, OUTPUT_DIR, ProcessingSpec, start_processing_job
from mlops_cli.services.roles import ensure_execution_role
from mlops_cli.services.security import job_encryption_key

STAGE = "preprocess"
OUTPUTS = ("train", "validation", "test", "rejects", "profile")
RAW_DIR = f"{INPUT_DIR}/raw"
_MAX_DATE_INPUTS = 9  # a processing job takes 10 inputs; one is the code


@dataclass
class PreprocessRun:
    job_name: str
    inputs: list[str]
    outputs: dict[str, str]
    image: str
    role_arn: str
    code: str
    code_uploaded: bool


@dataclass
class PreprocessSummary:
    job_name: str
    status: str
    rows_in: int = 0
    rows_out: int = 0
    rejected: int = 0
    duplicates_removed: int = 0
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    splits: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)


def job_prefix(config: Config) -> str:
    return f"{config.names().prefix}-pre-"


def start_preprocessing(
    clients: AwsClients, config: Config, *, dates: list[str] | None = None, instance_count: int | None = None
) -> PreprocessRun:
    """Start a new, uniquely named processing job over every raw batch, or over the given ingest dates."""
    image = sklearn_image_uri(clients.region, config.preprocess.framework_version)  # a bad region fails first
    count = instance_count or config.preprocess.instance_count
    if not 1 <= count <= 20:
        raise UsageError(f"--instance-count {count}: choose 1 to 20.")
    names = config.names(clients.account_id)
    bucket = names.data_bucket
    s3 = clients.client("s3")
    require_bucket(s3, bucket)
    raw_inputs = _raw_inputs(s3, bucket, config.dataset.raw_prefix, dates)
    objects = raw_objects(s3, [uri for _, uri in raw_inputs])
    key_arn = job_encryption_key(clients, config)
    role = ensure_execution_role(clients, config, key_arn)
    script = preprocess_scripts(config)
    code = upload_bundle(clients, config, processing_files(script))
    now = dt.datetime.now(dt.UTC)
    job_name = names.job_name("pre", now)
    distribution = "ShardedByS3Key" if count > 1 else "FullyReplicated"
    output_root = f"s3://{bucket}/processed/{config.dataset.name}/{job_name}"
    outputs = {name: f"{output_root}/{name}" for name in OUTPUTS}
    spec = preprocess_spec(
        config,
        job_name=job_name,
        code_uri=code.s3_prefix,
        inputs=[
            (name, uri, RAW_DIR if name == "raw" else f"{RAW_DIR}/{name.removeprefix('raw-')}", distribution)
            for name, uri in raw_inputs
        ],
        outputs=outputs,
        instance_count=count,
        script=script,
    )
    spec.tags[jobs.INPUT_DIGEST_TAG] = inputs_digest(objects, code.sha256, image, spec.arguments)
    start_processing_job(clients, config, spec, image=image, role_arn=role.arn, key_arn=key_arn)
    return PreprocessRun(
        job_name=job_name,
        inputs=[uri for _, uri in raw_inputs],
        outputs=outputs,
        image=image,
        role_arn=role.arn,
        code=code.s3_prefix,
        code_uploaded=code.uploaded,
    )


def preprocess_spec(
    config: Config,
    *,
    job_name: str,
    code_uri: str,
    inputs: list[tuple[str, str, str, str]],
    outputs: dict[str, str],
    instance_count: int,
    script: Scripts,
) -> ProcessingSpec:
    """The processing job that runs preprocess.py (or the team's preprocess.script): the same for `preprocess run`
    and the scheduled pipeline."""
    pre = config.preprocess
    return ProcessingSpec(
        job_name=job_name,
        script=script.entry_point,
        requirements=script.has_requirements,
        code_uri=code_uri,
        arguments=_arguments(config),
        inputs=inputs,
        outputs=outputs,
        instance_type=pre.instance_type,
        instance_count=instance_count,
        volume_size_gb=pre.volume_size_gb,
        max_runtime_seconds=pre.max_runtime_minutes * 60,
        tags={**config.standard_tags(STAGE), "mlops:dataset": config.dataset.name},
    )


def preprocess_scripts(config: Config) -> Scripts:
    return scripts(config, config.preprocess.script, "preprocess.py")


def _arguments(config: Config) -> dict[str, str]:
    pre = config.preprocess
    return {
        "--raw-dir": RAW_DIR,
        "--output-dir": OUTPUT_DIR,
        "--schema": f"{CODE_DIR}/schema.json",
        "--validation-fraction": str(pre.split.validation),
        "--test-fraction": str(pre.split.test),
        "--max-reject-rate": str(pre.max_reject_rate),
    }


def raw_objects(s3: Any, uris: list[str]) -> list[dict[str, str]]:
    """Every object a job reads from these S3 prefixes: key, version id and ETag of its current version."""
    objects = []
    for uri in uris:
        bucket, _, prefix = uri.removeprefix("s3://").partition("/")
        with aws_errors(f"listing the objects under {uri}"):
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                objects += [
                    {"key": v["Key"], "version_id": v.get("VersionId") or "null", "etag": v["ETag"]}
                    for v in page.get("Versions", [])
                    if v["IsLatest"]
                ]
    return sorted(objects, key=lambda o: o["key"])


def inputs_digest(objects: list[dict[str, str]], code_sha256: str, image: str, arguments: dict[str, str]) -> str:
    """The job's `mlops:input-digest` tag: the raw objects it reads, its code and image, and its arguments."""
    return jobs.input_digest({"raw": objects, "code": code_sha256, "image": image, "arguments": arguments})


def current_digest(clients: AwsClients, config: Config) -> tuple[str, int]:
    """The input digest a new job over every batch would carry, and how many raw objects it would read. Starts
    and uploads nothing."""
    image = sklearn_image_uri(clients.region, config.preprocess.framework_version)
    bucket = config.names(clients.account_id).data_bucket
    s3 = clients.client("s3")
    require_bucket(s3, bucket)
    objects = raw_objects(s3, [uri for _, uri in _raw_inputs(s3, bucket, config.dataset.raw_prefix, None)])
    code = bundle_sha256(processing_files(preprocess_scripts(config)))
    return inputs_digest(objects, code, image, _arguments(config)), len(objects)


def _raw_inputs(s3: Any, bucket: str, raw_prefix: str, dates: list[str] | None) -> list[tuple[str, str]]:
    available = _ingest_dates(s3, bucket, raw_prefix)
    if not available:
        raise PreconditionFailed(
            f"There is no data under s3://{bucket}/{raw_prefix}.", hint="Upload a batch with `mlops storage upload`."
        )
    if not dates:
        return [("raw", f"s3://{bucket}/{raw_prefix}")]
    missing = sorted(set(dates) - set(available))
    if missing:
        raise PreconditionFailed(
            f"No batch for {', '.join(missing)}.", hint=f"Batches in the bucket: {', '.join(available)}."
        )
    if len(dates) > _MAX_DATE_INPUTS:
        raise UsageError(f"At most {_MAX_DATE_INPUTS} --dates per job.", hint="Use --all to process every batch.")
    return [(f"raw-{d}", f"s3://{bucket}/{raw_prefix}ingest_date={d}/") for d in sorted(set(dates))]


def _ingest_dates(s3: Any, bucket: str, raw_prefix: str) -> list[str]:
    with aws_errors(f"listing batches under s3://{bucket}/{raw_prefix}"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=raw_prefix, Delimiter="/")
        folders = [p["Prefix"] for page in pages for p in page.get("CommonPrefixes", [])]
    return sorted(f.removeprefix(raw_prefix).removeprefix("ingest_date=").rstrip("/") for f in folders)


def latest_completed(clients: AwsClients, config: Config) -> jobs.JobState:
    """The newest preprocessing job that completed: what training reads unless told otherwise."""
    state = jobs.newest_completed(clients, jobs.Kind.PROCESSING, job_prefix(config))
    if state is not None:
        return state
    raise PreconditionFailed("No preprocessing job has completed yet.", hint="Run `mlops preprocess run --wait` first.")


def job_outputs(state: jobs.JobState) -> dict[str, str]:
    outputs = state.description.get("ProcessingOutputConfig", {}).get("Outputs", [])
    return {output["OutputName"]: output["S3Output"]["S3Uri"] for output in outputs}


def summarize(clients: AwsClients, state: jobs.JobState) -> PreprocessSummary:
    """Rows in and out, rejects by reason and split sizes, from the job's profile.json files (one per host)."""
    outputs = job_outputs(state)
    summary = PreprocessSummary(job_name=state.name, status=state.status, outputs=outputs)
    if state.status != "Completed" or "profile" not in outputs:
        return summary
    s3 = clients.client("s3")
    bucket, _, prefix = outputs["profile"].removeprefix("s3://").partition("/")
    with aws_errors(f"reading the profiles of {state.name}"):
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/")
        keys = [o["Key"] for page in pages for o in page.get("Contents", []) if o["Key"].endswith("profile.json")]
        profiles = [json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in sorted(keys)]
    for profile in profiles:
        _add_profile(summary, profile)
    return summary


def _add_profile(summary: PreprocessSummary, profile: dict[str, Any]) -> None:
    """Add one host's profile.json (see mlops_cli/container_scripts/preprocess.py) to the job's totals."""
    summary.hosts.append(str(profile["host"]))
    summary.rows_in += int(profile["rows_in"])
    summary.rows_out += int(profile["rows_out"])
    summary.rejected += int(profile["rows_rejected"])
    summary.duplicates_removed += int(profile["duplicates_removed"])
    for reason, count in profile["rejects_by_reason"].items():
        summary.rejects_by_reason[reason] = summary.rejects_by_reason.get(reason, 0) + int(count)
    for split, balance in profile["splits"].items():
        summary.splits[split] = summary.splits.get(split, 0) + int(balance["rows"])
