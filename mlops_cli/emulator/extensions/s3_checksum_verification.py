"""Uploads with a checksum the client computed: S3 refuses the bytes unless they hash to it.

moto stores whatever value the client sends (a TODO in `S3Response._get_checksum`), so an upload that was
corrupted on the way would be accepted. AWS answers 400 BadDigest; so does the emulator now.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from moto.s3.exceptions import S3ClientError
from moto.s3.responses import S3Response
from moto.s3.utils import compute_checksum

from mlops_cli.emulator.extensions.patching import Patch


def _verify(get_checksum: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(get_checksum)
    def wrapper(self: S3Response, response_headers: dict[str, Any]) -> Any:
        algorithm, value = get_checksum(self, response_headers)
        if algorithm and value:
            actual = compute_checksum(self.body or b"", algorithm=algorithm)
            actual_text = actual.decode() if isinstance(actual, bytes) else actual
            if actual_text != value:
                raise S3ClientError(
                    "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
                )
        return algorithm, value

    return wrapper


PATCHES = [Patch(S3Response, "_get_checksum", _verify)]
