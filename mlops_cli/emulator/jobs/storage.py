"""Moving a job's data between the emulator's S3 and its work folders, through the emulator's own S3 API (so bucket
policies, default encryption and event notifications apply as they do to any client)."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlops_cli.emulator.jobs import inputs
from mlops_cli.emulator.jobs.errors import JobFailure
from mlops_cli.emulator.jobs.inputs import S3Uri


class Storage:
    def __init__(self, s3: Any, region: str, role_arn: str) -> None:
        self._s3 = s3
        self._region = region
        self._role_arn = role_arn

    def fetch(
        self,
        uri: str,
        data_type: str,
        distribution: str | None,
        host_index: int,
        host_count: int,
        destination: Path,
    ) -> list[str]:
        """Download this host's objects of an input (S3Prefix or ManifestFile) below `destination`. Returns the
        keys it downloaded. Raises JobFailure when the input has no object at all, as SageMaker does."""
        location = S3Uri.parse(uri)
        if data_type == "ManifestFile":
            base, relatives = inputs.parse_manifest(self.read(location).decode())
            bucket, objects = base.bucket, {base.key + relative: relative for relative in relatives}
        elif data_type == "S3Prefix":
            keys = self._keys_under(location)
            bucket = location.bucket
            objects = {key: inputs.relative_path(location.key, key) for key in keys}
            objects = {key: relative for key, relative in objects.items() if relative}  # folder markers
        else:
            raise JobFailure(f"ClientError: the emulator does not support S3DataType {data_type!r} ({uri}).")
        if not objects:
            raise JobFailure(self._nothing_found(location))
        destination.mkdir(parents=True, exist_ok=True)
        chosen = inputs.keys_for_host(list(objects), distribution, host_index, host_count)
        for key in chosen:
            target = destination / inputs.safe_relative(objects[key])
            target.parent.mkdir(parents=True, exist_ok=True)
            self._call(f"download s3://{bucket}/{key}", self._s3.download_file, bucket, key, str(target))
        return chosen

    def read(self, location: S3Uri) -> bytes:
        response = self._call(f"read {location}", self._s3.get_object, Bucket=location.bucket, Key=location.key)
        body: bytes = response["Body"].read()
        return body

    def download_file(self, location: S3Uri, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        self._call(f"download {location}", self._s3.download_file, location.bucket, location.key, str(target))

    def upload_file(self, path: Path, location: S3Uri, kms_key_id: str | None = None) -> None:
        extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id} if kms_key_id else None
        self._call(
            f"upload {location}", self._s3.upload_file, str(path), location.bucket, location.key, ExtraArgs=extra
        )

    def upload_tree(self, folder: Path, location: S3Uri, kms_key_id: str | None = None) -> int:
        """Every file below `folder` to `location/<relative path>` (symlinks are not followed, as in SageMaker).
        Returns how many files were uploaded."""
        count = 0
        for path in files_below(folder):
            self.upload_file(path, location.child(path.relative_to(folder).as_posix()), kms_key_id)
            count += 1
        return count

    def _keys_under(self, location: S3Uri) -> list[str]:
        paginator = self._s3.get_paginator("list_objects_v2")
        pages = self._call(
            f"list {location}",
            lambda: list(paginator.paginate(Bucket=location.bucket, Prefix=location.key)),
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def _nothing_found(self, location: S3Uri) -> str:
        # SageMaker's wording for an empty or unreadable input.
        return (
            f'ClientError: No S3 objects found under S3 URL "{location}" given in input data source. Please ensure '
            f"that the bucket exists in the selected region ({self._region}), that objects exist under that S3 "
            f'prefix, and that the role "{self._role_arn}" has "s3:ListBucket" permissions on bucket '
            f'"{location.bucket}".'
        )

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return function(*args, **kwargs)
        except ClientError as exc:  # a missing bucket or object, access denied: the request's fault
            raise JobFailure(f"ClientError: could not {what}: {exc}") from exc
        except (BotoCoreError, OSError) as exc:
            raise JobFailure(f"InternalServerError: could not {what}: {exc}") from exc


def files_below(folder: Path) -> Iterator[Path]:
    """Regular files below `folder`, sorted, not following symlinks."""
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path


def has_files(folder: Path) -> bool:
    return next(files_below(folder), None) is not None


def make_tarball(folder: Path, target: Path) -> Path:
    """`folder`'s contents at the archive root, gzip-compressed, as SageMaker packs model.tar.gz."""
    with tarfile.open(target, "w:gz") as archive:
        for path in files_below(folder):
            archive.add(path, arcname=path.relative_to(folder).as_posix(), recursive=False)
    return target


def extract_tarball(archive_path: Path, destination: Path) -> None:
    """Unpack a sourcedir.tar.gz into the code folder; members that would land outside it are refused."""
    destination.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive_path, "r:*") as archive:
            archive.extractall(destination, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise JobFailure(f"ClientError: could not extract the source archive {archive_path.name}: {exc}") from exc
