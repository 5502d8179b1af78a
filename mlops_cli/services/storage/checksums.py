"""SHA-256 checksums of local files in the forms S3 reports them: whole-object, or composite for multipart."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

_READ_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileChecksum:
    hex: str  # the whole file's SHA-256, also stored in the object's metadata
    b64: str  # the same digest as S3's ChecksumSHA256 of a single-part object
    composite: str | None  # S3's ChecksumSHA256 of the multipart object ("<b64>-<parts>"), when multipart


def file_checksum(path: Path, part_size: int | None) -> FileChecksum:
    """One read of the file gives the whole digest and, with `part_size`, every part's digest."""
    whole = hashlib.sha256()
    part_digests: list[bytes] = []
    part = hashlib.sha256()
    in_part = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_READ_SIZE):
            whole.update(chunk)
            if part_size is None:
                continue
            view = memoryview(chunk)
            while view:
                take = min(len(view), part_size - in_part)
                part.update(view[:take])
                in_part += take
                view = view[take:]
                if in_part == part_size:
                    part_digests.append(part.digest())
                    part, in_part = hashlib.sha256(), 0
    if in_part:
        part_digests.append(part.digest())
    digest = whole.digest()
    composite = None
    if part_size is not None:
        combined = hashlib.sha256(b"".join(part_digests)).digest()
        composite = f"{base64.b64encode(combined).decode()}-{len(part_digests)}"
    return FileChecksum(hex=digest.hex(), b64=base64.b64encode(digest).decode(), composite=composite)
