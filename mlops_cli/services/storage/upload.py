"""Dataset uploads into the layout for data that keeps arriving: raw/<dataset>/ingest_date=YYYY-MM-DD/<file>.

Two phases: `plan_upload` checksums every file and compares it with what is in the bucket (nothing is sent);
`run_upload` transfers what the plan says, through boto3's transfer manager, and verifies each object's SHA-256.
Every write is conditional on what the plan saw (no object, or the object with that ETag), checked by S3 when the
object is written: two uploads racing to one key never replace each other's object silently.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from mlops_cli.aws.errors import aws_errors, get_or_none
from mlops_cli.aws.s3 import require_bucket, upload_file_if
from mlops_cli.aws.session import AwsClients
from mlops_cli.config.models import Config
from mlops_cli.errors import OperationFailed, PreconditionFailed, UsageError, WriteConflict
from mlops_cli.services.storage.checksums import FileChecksum, file_checksum

_DATE_DIR = re.compile(r"^(?:ingest_date=)?(\d{4}-\d{2}-\d{2})$")
_MB = 1024 * 1024
METADATA_KEY = "sha256"


class Plan(StrEnum):
    UPLOAD = "upload"  # not in the bucket yet
    SKIP = "skip"  # the same content is there already
    REPLACE = "replace"  # different content is there; needs --force (versioning keeps the old one)


@dataclass
class UploadItem:
    path: Path
    key: str
    size: int
    ingest_date: str
    checksum: FileChecksum
    plan: Plan
    multipart: bool
    version_id: str | None = None
    verified: bool = False
    etag: str | None = None  # of the object the plan found at the key: a replacement must replace exactly it


@dataclass
class UploadReport:
    bucket: str
    items: list[UploadItem]
    bytes_sent: int = 0
    files_sent: int = 0
    skipped: int = 0
    dates: list[str] = field(default_factory=list)


class UploadProgress(Protocol):
    """What the UI gets told while files go up (services never print)."""

    def start(self, total_bytes: int, total_files: int) -> None: ...
    def advance(self, sent_bytes: int) -> None: ...
    def file_done(self, item: UploadItem) -> None: ...


def _batch_files(paths: Iterable[Path], date: str | None) -> list[tuple[Path, str, str]]:
    """(file, ingest date, name under the date prefix) for every file under the given paths.

    A folder named YYYY-MM-DD or ingest_date=YYYY-MM-DD gives its files that date (and is not repeated in the key),
    so `upload data/churn` sends each batch folder to its own partition. `--date` wins; the default is today."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    found: list[tuple[Path, str, str]] = []
    for root in paths:
        if not root.exists():
            raise UsageError(f"{root}: no such file or folder.")
        base = root if root.is_dir() else root.parent
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            relative = file.relative_to(base)
            if any(part.startswith(".") for part in relative.parts):
                continue  # .DS_Store, editor swap files
            folder_date, name = None, relative.parts
            # folders[i] is the folder just above relative.parts[i]
            for index, folder in enumerate([base.name, *relative.parts[:-1]]):
                if match := _DATE_DIR.match(folder):
                    folder_date, name = match.group(1), relative.parts[index:]
            found.append((file, date or folder_date or today, "/".join(name)))
    if not found:
        raise UsageError("no files to upload under the given paths.")
    return found


def _validate_date(date: str) -> str:
    try:
        return dt.date.fromisoformat(date).isoformat()
    except ValueError:
        raise UsageError(f"--date {date!r} is not a date (YYYY-MM-DD).") from None


def plan_upload(
    clients: AwsClients, config: Config, paths: list[Path], *, date: str | None, force: bool
) -> UploadReport:
    """Checksum every file and decide, per file, upload / skip / replace. Raises before anything is sent when
    content would be replaced without `force`."""
    if date is not None:
        date = _validate_date(date)
    s3 = clients.client("s3")
    bucket = config.names(clients.account_id).data_bucket
    upload = config.storage.upload
    threshold, part_size = upload.multipart_threshold_mb * _MB, upload.part_size_mb * _MB
    require_bucket(s3, bucket)
    items: list[UploadItem] = []
    for path, ingest_date, name in _batch_files(paths, date):
        size = path.stat().st_size
        multipart = size >= threshold
        checksum = file_checksum(path, _adjusted_part_size(part_size, size) if multipart else None)
        key = f"{config.dataset.raw_prefix}ingest_date={ingest_date}/{name}"
        head = get_or_none(
            f"checking s3://{bucket}/{key}",
            ("404", "NoSuchKey", "NotFound"),
            s3.head_object,
            Bucket=bucket,
            Key=key,
            ChecksumMode="ENABLED",
        )
        plan = Plan.UPLOAD if head is None else Plan.SKIP if _same_content(head, checksum) else Plan.REPLACE
        etag = head.get("ETag") if head else None
        items.append(UploadItem(path, key, size, ingest_date, checksum, plan, multipart, etag=etag))
    conflicts = [item for item in items if item.plan is Plan.REPLACE]
    if conflicts and not force:
        listing = "\n  ".join(f"{item.path} -> s3://{bucket}/{item.key}" for item in conflicts)
        raise PreconditionFailed(
            f"{len(conflicts)} file(s) differ from the objects already at their keys; nothing was uploaded:\n  {listing}",
            hint="Use --force to upload them anyway (versioning keeps the old versions), or --date for a new batch.",
        )
    return UploadReport(bucket=bucket, items=items, dates=sorted({item.ingest_date for item in items}))


def _same_content(head: dict[str, Any], checksum: FileChecksum) -> bool:
    if head.get("Metadata", {}).get(METADATA_KEY) == checksum.hex:
        return True
    return head.get("ChecksumSHA256") in (checksum.b64, checksum.composite)


def _adjusted_part_size(part_size: int, size: int) -> int:
    # the transfer manager grows parts for huge files (S3 allows 10,000 parts); the composite checksum must agree
    from s3transfer.utils import ChunksizeAdjuster

    return int(ChunksizeAdjuster().adjust_chunksize(part_size, size))


def run_upload(clients: AwsClients, config: Config, report: UploadReport, progress: UploadProgress) -> UploadReport:
    """Send every planned file, then verify that S3 holds exactly the local bytes (SHA-256)."""
    from boto3.s3.transfer import TransferConfig

    s3 = clients.client("s3")
    upload = config.storage.upload
    transfer = TransferConfig(
        multipart_threshold=upload.multipart_threshold_mb * _MB,
        multipart_chunksize=upload.part_size_mb * _MB,
        max_concurrency=upload.max_concurrency,
        use_threads=True,
    )
    to_send = [item for item in report.items if item.plan is not Plan.SKIP]
    progress.start(sum(item.size for item in to_send), len(to_send))
    conflicts: list[UploadItem] = []
    for item in report.items:
        if item.plan is Plan.SKIP:
            report.skipped += 1
            continue
        # S3 checks every part against its SHA-256; a single-part object also against the digest computed
        # here from the local file, so it refuses bytes that changed on the way
        extra: dict[str, Any] = {"Metadata": {METADATA_KEY: item.checksum.hex}, "ChecksumAlgorithm": "SHA256"}
        if not item.multipart:
            extra["ChecksumSHA256"] = item.checksum.b64
        try:
            upload_file_if(
                s3,
                str(item.path),
                report.bucket,
                item.key,
                expected_etag=item.etag if item.plan is Plan.REPLACE else None,
                extra_args=extra,
                transfer=transfer,
                callback=progress.advance,
            )
        except WriteConflict:
            if _holds(s3, report.bucket, item):  # another upload of the same bytes won: nothing to do
                report.skipped += 1
            else:
                conflicts.append(item)
            continue
        with aws_errors(f"checking s3://{report.bucket}/{item.key}"):
            head = s3.head_object(Bucket=report.bucket, Key=item.key, ChecksumMode="ENABLED")
        expected = item.checksum.composite if item.multipart else item.checksum.b64
        if head.get("ChecksumSHA256") != expected:
            raise OperationFailed(
                f"s3://{report.bucket}/{item.key} has SHA-256 {head.get('ChecksumSHA256')}, "
                f"but {item.path} has {expected}.",
                hint="The object is corrupt or was replaced during the upload: run the upload again with --force.",
            )
        item.version_id, item.verified = head.get("VersionId"), True
        report.files_sent += 1
        report.bytes_sent += item.size
        progress.file_done(item)
    if conflicts:
        listing = "\n  ".join(f"{item.path} -> s3://{report.bucket}/{item.key}" for item in conflicts)
        raise WriteConflict(
            f"{len(conflicts)} file(s) were not uploaded: another upload wrote different content to their keys "
            f"while this one ran ({report.files_sent} other file(s) uploaded, {report.skipped} already there):"
            f"\n  {listing}",
            hint="See what is there with `mlops storage ls`; upload again with --force to replace it "
            "(versioning keeps the other version), or with --date for a new batch.",
        )
    return report


def _holds(s3: Any, bucket: str, item: UploadItem) -> bool:
    """Whether the object at the item's key now has the item's content."""
    head = get_or_none(
        f"checking s3://{bucket}/{item.key}",
        ("404", "NoSuchKey", "NotFound"),
        s3.head_object,
        Bucket=bucket,
        Key=item.key,
        ChecksumMode="ENABLED",
    )
    return head is not None and _same_content(head, item.checksum)
