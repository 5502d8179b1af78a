"""The project's extensions to moto, one small module per gap. `install()` applies them all, in the server
process before it serves a request; `installed()` applies them for a block (tests, in-process moto)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from mlops_cli.emulator.extensions import s3_bucket_policy, s3_checksums, s3_logging, s3_notifications
from mlops_cli.emulator.extensions.patching import Patch

_MODULES = (s3_bucket_policy, s3_notifications, s3_logging, s3_checksums)


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
    install()
    try:
        yield
    finally:
        uninstall()
