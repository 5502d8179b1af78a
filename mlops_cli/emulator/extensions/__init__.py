"""The project's extensions to moto, one small module per gap. `install()` applies them all, in the server
process before it serves a request (and in unit tests, for moto in-process). `installed()` and `suspended()`
switch them on or off for a block and then restore whatever was there before, so they nest with `install()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlops_cli.emulator.extensions import (
    logs_kms,
    s3_bucket_policy,
    s3_checksum_verification,
    s3_checksums,
    s3_conditional_writes,
    s3_logging,
    s3_notifications,
)
from mlops_cli.emulator.extensions.patching import Patch

_MODULES = (
    s3_bucket_policy,
    s3_notifications,
    s3_logging,
    s3_checksums,
    s3_checksum_verification,
    s3_conditional_writes,
    logs_kms,
)


def patches() -> list[Patch]:
    return [patch for module in _MODULES for patch in module.PATCHES]


def install() -> None:
    for patch in patches():
        patch.apply()


def uninstall() -> None:
    for patch in reversed(patches()):
        patch.revert()


@contextmanager
def installed() -> Iterator[None]:
    applied = [patch for patch in patches() if patch.apply()]
    try:
        yield
    finally:
        for patch in reversed(applied):
            patch.revert()


@contextmanager
def suspended() -> Iterator[None]:
    """Plain moto for the block (to show what an extension changes)."""
    reverted = [patch for patch in reversed(patches()) if patch.revert()]
    try:
        yield
    finally:
        for patch in reversed(reverted):
            patch.apply()
