"""Conditional writes as S3 does them: checked and written as one step, and IfMatch on CompleteMultipartUpload.

moto checks If-None-Match/If-Match on PutObject and If-None-Match on CompleteMultipartUpload, but the check and the
write are separate steps in a threaded server, so two racing writes can both pass the check; and it ignores
If-Match on CompleteMultipartUpload (AWS answers 412 PreconditionFailed, or 404 NoSuchKey when the key is gone).
Writes of objects are serialised here, so the condition holds at the moment the object is written.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from moto.s3.exceptions import MissingKey, PreconditionFailed
from moto.s3.responses import S3Response

from mlops_cli.emulator.extensions.patching import Patch

_WRITES = threading.RLock()


def _serialised_put(put_object: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(put_object)
    def wrapper(self: S3Response, *args: Any, **kwargs: Any) -> Any:
        with _WRITES:
            return put_object(self, *args, **kwargs)

    return wrapper


def _conditional_complete(key_response_post: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(key_response_post)
    def wrapper(
        self: S3Response, request: Any, body: bytes, bucket_name: str, query: dict[str, Any], key_name: str
    ) -> Any:
        if not query.get("uploadId"):  # CreateMultipartUpload, RestoreObject, ...: no object is written
            return key_response_post(self, request, body, bucket_name, query, key_name)
        with _WRITES:
            if_match = request.headers.get("If-Match")
            existing = self.backend.get_object(bucket_name, key_name)
            completed_already = (
                existing is not None and existing.multipart and existing.multipart.id in query["uploadId"]
            )
            if if_match and not completed_already:
                if existing is None:
                    raise MissingKey(key=key_name)
                if if_match.replace('"', "") != existing.etag.replace('"', ""):
                    raise PreconditionFailed("If-Match")
            return key_response_post(self, request, body, bucket_name, query, key_name)

    return wrapper


PATCHES = [
    Patch(S3Response, "put_object", _serialised_put),
    Patch(S3Response, "_key_response_post", _conditional_complete),
]
