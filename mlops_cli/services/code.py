"""The code jobs and models run, in S3, content-addressed: `code/<sha256>/…`, so unchanged code is never uploaded
again and a job always names exactly the code it ran.

A bundle is our container scripts (the default) or the team's own: a `ScriptSpec`'s source_dir (relative paths
kept), its requirements as requirements.txt, and schema.json from the config either way."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.config.scripts import REQUIREMENTS, RUNPROC, SCHEMA, ScriptSpec
from mlops_cli.errors import PreconditionFailed
from mlops_cli.services.processing import CODE_DIR as PROCESSING_CODE_DIR
from mlops_cli.services.schema import schema_document

CONTAINER_SCRIPTS = Path(__file__).resolve().parents[1] / "container_scripts"
SHARED_PREFIX = "mlops_"  # mlops_cli/container_scripts/mlops_*.py are modules every script may import


@dataclass(frozen=True)
class Scripts:
    """What a job runs: the files of its bundle and the one it starts."""

    files: dict[str, bytes]
    entry_point: str

    @property
    def has_requirements(self) -> bool:
        return REQUIREMENTS in self.files


@dataclass(frozen=True)
class CodeBundle:
    sha256: str
    s3_prefix: str  # s3://bucket/code/<sha256>/
    uploaded: bool  # False: it was there already


def bundle_files(config: Config, entry_points: tuple[str, ...]) -> dict[str, bytes]:
    """The scripts a job runs, the modules they share, and schema.json built from the config."""
    if not CONTAINER_SCRIPTS.is_dir():
        raise PreconditionFailed(
            f"The container scripts are not at {CONTAINER_SCRIPTS}.", hint="Run mlops from a checkout of the project."
        )
    shared = sorted(path.name for path in CONTAINER_SCRIPTS.glob(f"{SHARED_PREFIX}*.py"))
    files = {name: (CONTAINER_SCRIPTS / name).read_bytes() for name in (*entry_points, *shared)}
    files[SCHEMA] = _schema(config)
    return files


def _schema(config: Config) -> bytes:
    return json.dumps(schema_document(config.dataset), indent=2, sort_keys=True).encode()


def user_bundle_files(config: Config, spec: ScriptSpec) -> dict[str, bytes]:
    """The team's source_dir (relative paths kept; hidden files, __pycache__ and *.pyc left out, as the config
    check counted them), requirements.txt from `spec.requirements`, and schema.json from the config."""
    files = {name: path.read_bytes() for name, path in spec.files().items()}
    if (requirements := spec.requirements_file) is not None:
        files[REQUIREMENTS] = requirements.read_bytes()
    files[SCHEMA] = _schema(config)
    return files


def scripts(config: Config, spec: ScriptSpec | None, default: str, *, shared: tuple[str, ...] = ()) -> Scripts:
    """The team's script when `spec` names one, else our `default` script (with `shared` scripts beside it)."""
    if spec is not None:
        return Scripts(user_bundle_files(config, spec), spec.entry_point)
    return Scripts(bundle_files(config, (default, *shared)), default)


def runproc(entry_point: str) -> bytes:
    """The processing wrapper of a bundle with requirements, as the SageMaker SDK's FrameworkProcessor writes it:
    install the requirements, then run the entry point with the job's arguments."""
    import shlex

    return (
        "#!/bin/bash\n"
        "set -e\n"
        f"cd {PROCESSING_CODE_DIR}\n"
        f"python3 -m pip install -r {REQUIREMENTS}\n"
        f'exec python3 {shlex.quote(entry_point)} "$@"\n'
    ).encode()


def processing_files(code: Scripts) -> dict[str, bytes]:
    """A processing job's code input: the bundle, plus runproc.sh when it has requirements to install."""
    return {**code.files, RUNPROC: runproc(code.entry_point)} if code.has_requirements else code.files


def sourcedir_tarball(files: dict[str, bytes]) -> bytes:
    """A reproducible sourcedir.tar.gz (fixed order, times and owners), so the same code hashes the same."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    import gzip

    return gzip.compress(raw.getvalue(), mtime=0)


def bundle_sha256(files: dict[str, bytes]) -> str:
    """The bundle's identity: a SHA-256 over every file's name and content (its S3 prefix is code/<this>/)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def upload_bundle(clients: AwsClients, config: Config, files: dict[str, bytes]) -> CodeBundle:
    """Upload `files` under code/<sha256 of all of them>/ unless that exact bundle is there already."""
    sha = bundle_sha256(files)
    bucket = config.names(clients.account_id).data_bucket
    prefix = f"code/{sha}/"
    s3 = clients.client("s3")
    marker = f"{prefix}.complete"  # written last: a bundle without it was interrupted and is sent again
    present = get_or_none(
        f"checking s3://{bucket}/{marker}", ("404", "NoSuchKey"), s3.head_object, Bucket=bucket, Key=marker
    )
    if present is None:
        with aws_errors(f"uploading code to s3://{bucket}/{prefix}"):
            for name, body in sorted(files.items()):
                s3.put_object(Bucket=bucket, Key=prefix + name, Body=body, ChecksumAlgorithm="SHA256")
            s3.put_object(Bucket=bucket, Key=marker, Body=b"", ChecksumAlgorithm="SHA256")
    return CodeBundle(sha256=sha, s3_prefix=f"s3://{bucket}/{prefix}", uploaded=present is None)
