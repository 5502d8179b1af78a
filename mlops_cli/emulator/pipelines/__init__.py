"""SageMaker pipelines that run on the emulator: executions run their steps by creating the real jobs
(`definition`, `resolve`, `conditions`, `execution`, wired into moto by `api`); S3 object-created events start
the pipelines of EventBridge rules (`events`, `targets`); Scheduler schedules fire (`schedules`, `expressions`).

Nothing runs at import time: the server calls `install()` after the job runner's.
"""

from __future__ import annotations


def install() -> None:
    from mlops_cli.emulator.pipelines import api, events, schedules

    for patch in [*api.PATCHES, *events.PATCHES, *schedules.PATCHES]:
        patch.apply()


def start_scheduler() -> None:
    """Schedules fire from now on (the server calls this once it serves requests)."""
    from mlops_cli.emulator.pipelines.schedules import scheduler

    scheduler.start()


def stop_scheduler() -> None:
    from mlops_cli.emulator.pipelines.schedules import scheduler

    scheduler.stop()


def uninstall() -> None:
    from mlops_cli.emulator.pipelines import api, events, schedules

    stop_scheduler()
    for patch in reversed([*api.PATCHES, *events.PATCHES, *schedules.PATCHES]):
        patch.revert()
