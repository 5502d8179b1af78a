"""`mlops local up | down | status | reset | logs`: the embedded AWS emulator on this machine."""

from __future__ import annotations

import contextlib
import sys
from typing import TYPE_CHECKING

import typer
from rich.markup import escape
from rich.table import Table

from mlops_cli.commands.common import Invocation, command, lost_emulator_warning
from mlops_cli.errors import UsageError

if TYPE_CHECKING:
    from mlops_cli.emulator.manager import EmulatorInfo

app = typer.Typer(
    help="Run the embedded AWS emulator on this machine (127.0.0.1 only).\n\n"
    "It is a moto server, extended so SageMaker jobs and endpoints really run here, without Docker or an AWS "
    "account. Commands whose config says `aws.endpoint_url: local` (e.g. configs/local.yaml) start it on demand "
    "and keep using it; it holds its state in memory until `mlops local down` or `mlops local reset`.",
    no_args_is_help=True,
)


@command(app, "up")
def up(
    run: Invocation,
    port: int | None = typer.Option(
        None, "--port", "-p", min=1, max=65535, help="Port on 127.0.0.1 (default: any free port)."
    ),
) -> None:
    """Start the emulator in the background and print its endpoint, pid, log and work folder.

    Not needed before other commands (they start it on demand), but handy to see where it runs. Safe to run
    again: if it is already running, it says so and shows the same details.
    """
    from mlops_cli.emulator import manager

    info, already_running = manager.start(port)
    if already_running and port is not None and port != info.port:
        run.out.warn(f"already running on port {info.port}, not {port}; `mlops local down` first to move it.")
    if info.replaced_lost_since:
        run.out.warn(lost_emulator_warning(info.replaced_lost_since))
    heading = "already running" if already_running else "started"
    run.out.result({**info.as_dict(), "already_running": already_running}, lambda: _details(info, heading))


@command(app, "down")
def down(run: Invocation) -> None:
    """Stop the emulator and every process it started. Its state (buckets, jobs, endpoints) is lost.

    Safe to run when it is not running.
    """
    from mlops_cli.emulator import manager

    was_running = manager.stop()
    message = "[green]stopped[/green] the emulator" if was_running else "the emulator was not running"
    run.out.result({"stopped": was_running, "was_running": was_running}, lambda: message)


@command(app, "status")
def status(run: Invocation) -> None:
    """Say whether the emulator is running, and where: endpoint, pid, log and work folder. Always exits 0."""
    from mlops_cli.emulator import manager

    info = manager.status()
    run.out.result(info, lambda: _details(info, "running" if info.running else "not running"))


@command(app, "reset")
def reset(run: Invocation) -> None:
    """Wipe all emulated AWS state (every bucket, job and endpoint) and the job work folders; keep it running.

    Use it to start a demo or a test from a clean slate without restarting. Asks first; `--yes` confirms.
    """
    from mlops_cli.emulator import manager

    if manager.status().running and not run.confirm("Wipe every bucket, job and endpoint in the emulator?"):
        run.out.info("Cancelled: nothing was reset.")
        raise typer.Exit(1)
    info = manager.reset()
    run.out.result({"reset": True, "endpoint_url": info.endpoint_url}, lambda: "[green]reset[/green] the emulator")


@command(app, "logs")
def logs(
    run: Invocation,
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
    lines: int = typer.Option(50, "--lines", "-n", min=0, help="How many of the last lines to print."),
) -> None:
    """Print the end of the emulator's log: every request it served, and errors from moto or a job.

    Look here when a command against the emulator fails with a 500 or a job does not behave.
    """
    from mlops_cli.emulator import logs as emulator_logs
    from mlops_cli.emulator.manager import log_path

    if follow and run.out.json_mode:
        raise UsageError("--follow prints lines as they come and cannot be combined with --json.")
    path = log_path()
    if not path.exists():
        run.out.info(f"No log yet at {escape(str(path))}: the emulator has not been started.")
    last, end = emulator_logs.tail(path, lines)
    if run.out.json_mode:
        run.out.result({"log_path": path, "lines": [line.rstrip("\n") for line in last]})
        return
    _print(last)
    if follow:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how following ends, not an interruption
            for line in emulator_logs.follow(path, start=end):
                _print([line])


def _print(lines: list[str]) -> None:
    # Raw text, not rich: log lines hold brackets that rich would read as markup.
    sys.stdout.writelines(lines)
    sys.stdout.flush()


def _details(info: EmulatorInfo, heading: str) -> Table:
    grid = Table.grid(padding=(0, 2))
    style = "green" if info.running else "yellow"
    grid.add_row(f"[{style}]emulator {heading}[/{style}]", "")
    if info.running:
        grid.add_row("endpoint", escape(str(info.endpoint_url)))
        grid.add_row("pid", str(info.pid))
        grid.add_row("started", escape(str(info.started_at)))
    grid.add_row("log", escape(str(info.log_path)))
    grid.add_row("work dir", escape(str(info.work_dir)))
    if not info.running:
        grid.add_row("", "start it with `mlops local up` (commands with endpoint_url: local start it themselves)")
    return grid
