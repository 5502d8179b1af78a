"""Options and behaviour shared by the commands that start or follow jobs: --wait, --timeout, Ctrl-C."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from mlops_cli.commands.common import Invocation
from mlops_cli.errors import Interrupted

if TYPE_CHECKING:
    from mlops_cli.services.jobs import JobState

WAIT = typer.Option(False, "--wait/--no-wait", help="Wait for the job to end, streaming its log; exit 1 if it fails.")
TIMEOUT = typer.Option(
    None, "--timeout", min=1, help="With --wait: give up waiting after this many seconds (exit 4; the job goes on)."
)
LOGS = typer.Option(True, "--logs/--no-logs", help="With --wait: stream the job's log to stderr.")


def watch(run: Invocation, kind: str, name: str, *, group: str, timeout: float | None, logs: bool = True) -> JobState:
    """Wait for a job with a spinner and its log; Ctrl-C leaves it running and says how to follow it."""
    from mlops_cli.services import jobs
    from mlops_cli.ui.jobs import JobWatch
    from mlops_cli.ui.progress import OutageNotice

    try:
        with JobWatch(run.out, show_logs=logs) as observer:
            return jobs.wait_job(
                run.clients,
                jobs.Kind(kind),
                name,
                observe=observer,
                timeout=timeout,
                on_outage=OutageNotice(run.out),
            )
    except KeyboardInterrupt:
        raise Interrupted(
            f"Stopped waiting; {kind} job {name} goes on running.",
            hint=f"Follow it with `mlops {group} logs {name} --follow`, or stop it with `mlops {group} stop {name}`.",
        ) from None
