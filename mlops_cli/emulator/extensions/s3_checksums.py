"""head_object with ChecksumMode=ENABLED: a multipart object's composite checksum says how many parts it has.

moto's get_object returns `ChecksumSHA256: "<base64>-<parts>"` and `ChecksumType: COMPOSITE` for a multipart
upload, but head_object returns the bare base64 value and no type, so verifying an upload with a HEAD fails.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.s3.responses import S3Response

from mlops_cli.emulator.extensions.patching import Patch


def _qualify_checksum(head_object: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(head_object)
    def wrapper(
        self: S3Response, bucket_name: str, query: dict[str, Any], key_name: str, headers: dict[str, Any]
    ) -> Any:
        status, response_headers, body = head_object(self, bucket_name, query, key_name, headers)
        wanted = headers.get("x-amz-checksum-mode") == "ENABLED" and "partNumber" not in query
        if status == 200 and wanted:
            version_id = query.get("versionId", [None])[0]
            key = self.backend.head_object(bucket_name, key_name, version_id=version_id)
            if key is not None and key.checksum_algorithm and key.checksum_type:
                if key.checksum_type == "COMPOSITE":
                    name = f"x-amz-checksum-{key.checksum_algorithm.lower()}"
                    response_headers[name] = f"{key.checksum_value}-{key.checksum_parts}"
                response_headers["x-amz-checksum-type"] = key.checksum_type
        return status, response_headers, body

    return wrapper


PATCHES = [Patch(S3Response, "head_object", _qualify_checksum)]
