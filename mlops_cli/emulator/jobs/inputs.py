"""Which S3 objects an input delivers to which host, and where under the input's local folder they land. Pure.

SageMaker's rules: with `S3Prefix`, every key that starts with the URI's key is an object of the input (so
`s3://b/code/x.py` also matches `code/x.py.bak`); with `ManifestFile`, the URI names a JSON manifest
`[{"prefix": "s3://b/p/"}, "rel/key1", ...]`. `FullyReplicated` gives every host all objects; `ShardedByS3Key`
gives each host its share: keys are sorted and dealt round-robin (host i of n gets keys i, i+n, i+2n, ...).
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

FULLY_REPLICATED = "FullyReplicated"
SHARDED_BY_S3_KEY = "ShardedByS3Key"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://") or not uri[5:].split("/", 1)[0]:
            raise ValueError(f"{uri!r} is not an S3 URI (s3://bucket/key)")
        bucket, _, key = uri[5:].partition("/")
        return cls(bucket, key)

    def child(self, relative: str) -> S3Uri:
        """The object `relative` under this URI as a folder (`s3://b/out` + `x/y.csv` = `s3://b/out/x/y.csv`)."""
        base = self.key.rstrip("/")
        return S3Uri(self.bucket, f"{base}/{relative}" if base else relative)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def relative_path(prefix: str, key: str) -> str:
    """Where object `key`, found under `prefix`, goes below the input's local folder.

    The part after the prefix when the prefix names a folder (`data/train` or `data/train/` → `part-1.csv`);
    otherwise the key from the prefix's last folder on (`code/x.py` → `x.py`, `code/x.py.bak` → `x.py.bak`).
    "" for a folder marker (the key equals a prefix ending in "/")."""
    rest = key[len(prefix) :]
    if prefix.endswith("/") or rest.startswith("/") or not prefix:
        return rest.lstrip("/")
    return key[prefix.rfind("/") + 1 :]


def shard(items: Sequence[str], host_index: int, host_count: int) -> list[str]:
    """Host `host_index`'s (0-based) share of `items`: sorted, then dealt round-robin, so shards are disjoint and
    together hold every item, and each host's share is the same on every run."""
    if not 0 <= host_index < host_count:
        raise ValueError(f"host index {host_index} is not in 0..{host_count - 1}")
    return sorted(items)[host_index::host_count]


def keys_for_host(keys: Sequence[str], distribution: str | None, host_index: int, host_count: int) -> list[str]:
    if distribution == SHARDED_BY_S3_KEY:
        return shard(keys, host_index, host_count)
    return sorted(keys)


def parse_manifest(text: str) -> tuple[S3Uri, list[str]]:
    """The manifest's base prefix and its relative keys."""
    try:
        entries = json.loads(text)
        base = S3Uri.parse(entries[0]["prefix"])
        relatives = [str(entry) for entry in entries[1:]]
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValueError(f'the manifest is not [{{"prefix": "s3://..."}}, "key", ...]: {exc}') from exc
    return base, relatives


def safe_relative(path: str) -> str:
    """`path` as a relative path that cannot leave its folder ("../x" and "/x" are refused)."""
    normal = posixpath.normpath(path)
    if normal.startswith(("../", "/")) or normal in ("..", "."):
        raise ValueError(f"{path!r} would be written outside the input folder")
    return normal
