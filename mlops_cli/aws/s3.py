"""Small S3 helpers shared by several stages, and conditional writes through boto3's managed transfer."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlops_cli.aws.errors import error_code, get_or_none, kind_of, translate_exception
from mlops_cli.errors import PreconditionFailed, WriteConflict

NO_BUCKET = ("NoSuchBucket", "404")
# S3's answers to a conditional write that does not hold: the key exists (IfNoneMatch) or holds another object
# (IfMatch), a concurrent conditional write to the key is in progress, or the key is gone (IfMatch).
_CONFLICTS = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409", "NoSuchKey", "404")


def bucket_exists(s3: Any, bucket: str) -> bool:
    return get_or_none(f"looking up bucket {bucket}", NO_BUCKET, s3.head_bucket, Bucket=bucket) is not None


def require_bucket(s3: Any, bucket: str) -> None:
    if not bucket_exists(s3, bucket):
        raise PreconditionFailed(f"Bucket {bucket} does not exist.", hint="Run `mlops storage init` first.")


class _WriteConditions:
    """The IfNoneMatch/IfMatch each key's write must carry, added to the PutObject or CompleteMultipartUpload
    that the managed transfer sends for it (from its worker threads). s3transfer refuses these two arguments in
    ExtraArgs, so they are added where botocore lets a caller complete an operation's parameters. One registry per
    client: an upload writes its keys one after the other, so a key has one condition at a time per client."""

    def __init__(self, s3: Any) -> None:
        self._lock = threading.Lock()
        self._conditions: dict[tuple[str, str], dict[str, str]] = {}
        for operation in ("PutObject", "CompleteMultipartUpload"):
            s3.meta.events.register(f"provide-client-params.s3.{operation}", self._add)

    def _add(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            condition = self._conditions.get((params.get("Bucket", ""), params.get("Key", "")))
        if condition:
            params.update(condition)

    @contextmanager
    def holding(self, bucket: str, key: str, condition: dict[str, str]) -> Iterator[None]:
        with self._lock:
            self._conditions[(bucket, key)] = condition
        try:
            yield
        finally:
            with self._lock:
                self._conditions.pop((bucket, key), None)


_REGISTRIES: weakref.WeakKeyDictionary[Any, _WriteConditions] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def _conditions(s3: Any) -> _WriteConditions:
    with _REGISTRIES_LOCK:
        if s3 not in _REGISTRIES:
            _REGISTRIES[s3] = _WriteConditions(s3)
        return _REGISTRIES[s3]


def upload_file_if(
    s3: Any,
    path: str,
    bucket: str,
    key: str,
    *,
    expected_etag: str | None,
    extra_args: dict[str, Any],
    transfer: Any,
    callback: Callable[[int], None],
) -> None:
    """Upload through the managed transfer, but only if the key still holds what the caller saw: nothing
    (`expected_etag` None: IfNoneMatch="*") or the object with that ETag (IfMatch). S3 checks it when the object is
    written, so of two uploads racing to one key exactly one wins. The loser gets WriteConflict; nothing of it is
    kept (a multipart upload is aborted)."""
    condition = {"IfNoneMatch": "*"} if expected_etag is None else {"IfMatch": expected_etag}
    doing = f"uploading {path} to s3://{bucket}/{key}"
    try:
        with _conditions(s3).holding(bucket, key, condition):
            s3.upload_file(path, bucket, key, ExtraArgs=extra_args, Config=transfer, Callback=callback)
    except Exception as exc:
        if kind_of(exc) is None:
            raise
        cause = exc.__cause__ or exc.__context__ or exc  # boto3 wraps a ClientError in S3UploadFailedError
        if error_code(cause) in _CONFLICTS:
            raise WriteConflict(
                f"s3://{bucket}/{key} was written by someone else during this upload "
                f"({error_code(cause)}); {path} did not replace it."
            ) from exc
        raise translate_exception(exc, doing) from exc
