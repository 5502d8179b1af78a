"""`mlops storage` end to end: the CLI in a subprocess, against the emulator, with the shipped local config."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MLOPS = [sys.executable, "-m", "mlops_cli"]


class Cli:
    """Runs `mlops … -c configs/local.yaml --set project=<unique>` so that each test has its own buckets."""

    def __init__(self, project: str, *settings: str) -> None:
        self.project = project
        self.settings = [item for setting in settings for item in ("--set", setting)]

    def __call__(self, *args: str, config: str = "configs/local.yaml") -> subprocess.CompletedProcess[str]:
        # the project's settings before the command: a --set given with the command wins over them
        command = [*MLOPS, *self.settings, *args, "-c", config, "--set", f"project={self.project}"]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=os.environ, timeout=120)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def cli(emulator) -> Cli:
    return Cli(f"t{uuid.uuid4().hex[:10]}")


def bucket_of(cli: Cli) -> str:
    return f"{cli.project}-local-123456789012-eu-west-1-data"


def test_init_twice_then_unchanged(cli: Cli) -> None:
    first = cli.json("storage", "init")
    # SageMaker's job log groups are the account's, shared by every project: an earlier test may have made them
    shared = ("log group /aws/sagemaker/ProcessingJobs", "log group /aws/sagemaker/TrainingJobs")
    shared += ("log group /aws/sagemaker/TransformJobs",)
    assert {c["action"] for c in first["controls"] if c["name"] not in shared} == {"created"}
    second = cli.json("storage", "init")
    assert {c["action"] for c in second["controls"]} == {"unchanged"}
    assert second["bucket"] == bucket_of(cli)


def test_drift_is_detected_and_repaired(cli: Cli, emulator_client) -> None:
    cli.json("storage", "init")
    s3 = emulator_client("s3")
    bucket = bucket_of(cli)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket=bucket)
    s3.delete_bucket_policy(Bucket=bucket)

    check = cli("storage", "status", "--check")
    assert check.returncode == 1
    for name in ("bucket versioning", "bucket public access block", "bucket policy"):
        assert name in check.stderr and name in check.stdout

    repaired = cli.json("storage", "init")
    updated = {c["name"] for c in repaired["controls"] if c["action"] == "updated"}
    assert updated == {"bucket versioning", "bucket public access block", "bucket policy"}
    assert cli("storage", "status", "--check").returncode == 0
    # the TLS-only policy is back in place and the tool still reaches its bucket
    assert "DenyInsecureTransport" in s3.get_bucket_policy(Bucket=bucket)["Policy"]


def test_upload_sample_batches_verified_and_idempotent(cli: Cli, emulator_client) -> None:
    cli.json("storage", "init")
    report = cli.json("storage", "upload", "data/churn")
    assert report["files_sent"] == 3 and report["dates"] == ["2026-01-05", "2026-01-12", "2026-01-19"]
    s3 = emulator_client("s3")
    for item in report["items"]:
        local = hashlib.sha256(Path(ROOT, item["path"]).read_bytes()).digest()
        head = s3.head_object(Bucket=report["bucket"], Key=item["key"], ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == base64.b64encode(local).decode()
        assert head["ServerSideEncryption"] == "aws:kms"

    again = cli.json("storage", "upload", "data/churn")
    assert again["bytes_sent"] == 0 and again["skipped"] == 3

    listing = cli.json("storage", "ls")
    assert [b["ingest_date"] for b in listing["batches"]] == ["2026-01-05", "2026-01-12", "2026-01-19"]


def test_delete_guards_data(cli: Cli) -> None:
    cli.json("storage", "init")
    cli.json("storage", "upload", "data/churn/ingest_date=2026-01-05")
    refused = cli("storage", "delete")
    assert refused.returncode == 3 and "holds data" in refused.stderr
    unconfirmed = cli("storage", "delete", "--delete-data")  # no terminal, no --yes: never prompts
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    deleted = cli.json("storage", "delete", "--delete-data", "--yes")
    assert deleted["deleted"] is True and deleted["versions_deleted"] == 1
    again = cli.json("storage", "delete", "--delete-data", "--yes")
    assert again["deleted"] is False


def test_every_reporting_command_prints_only_json(cli: Cli) -> None:
    for args in (
        ("config", "validate"),
        ("config", "show"),
        ("storage", "status"),
        ("storage", "init"),
        ("storage", "upload", "data/churn/ingest_date=2026-01-12"),
        ("storage", "ls"),
        ("local", "status"),
        ("storage", "delete", "--delete-data", "--yes"),
    ):
        result = cli(*args, "--json")
        assert result.returncode == 0, (args, result.stderr)
        json.loads(result.stdout)  # nothing else on stdout


def test_errors_in_json_mode_are_json_too(cli: Cli) -> None:
    result = cli("storage", "ls", "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout)["error"]["exit_code"] == 3
    assert "mlops storage init" in result.stderr
