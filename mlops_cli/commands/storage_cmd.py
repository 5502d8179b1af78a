"""`mlops storage`: the data bucket (versioned, encrypted, access-controlled, access-logged) and dataset uploads."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands.common import Invocation, command
from mlops_cli.errors import DriftDetected
from mlops_cli.ui import storage_views as views

app = typer.Typer(
    help="The data bucket: create and repair it (init), check it (status), upload and list dataset batches.",
    no_args_is_help=True,
)


@command(app, "init")
def init(run: Invocation) -> None:
    """Create or repair the data bucket, its access-log bucket and KMS key, so that they match the config.

    Safe to run again: every control is reported as created, updated or unchanged."""
    from mlops_cli.services.storage.stack import init_storage

    report = init_storage(run.clients, run.config)
    run.out.result(report, lambda: views.init_view(report))


@command(app, "status")
def status(
    run: Invocation,
    check: bool = typer.Option(False, "--check", help="Exit 1 when anything differs from the config (for cron)."),
) -> None:
    """Show every control of the bucket, expected against actual. Changes nothing."""
    from mlops_cli.services.storage.stack import storage_status

    report = storage_status(run.clients, run.config)
    run.out.result(report, lambda: views.status_view(report))
    if check and report.drifted:
        names = ", ".join(f"{c.name} ({c.state.value})" for c in report.drifted)
        raise DriftDetected(f"{len(report.drifted)} control(s) differ: {names}.", hint="Run `mlops storage init`.")


@command(app, "upload")
def upload(
    run: Invocation,
    paths: list[Path] = typer.Argument(
        ..., help="Files or folders. A folder named YYYY-MM-DD or ingest_date=YYYY-MM-DD sets its files' batch date."
    ),
    date: str | None = typer.Option(
        None, "--date", help="Batch date (YYYY-MM-DD) for every file; default: from the folder name, else today."
    ),
    force: bool = typer.Option(
        False,
        "--force",
        help="Upload files whose content differs from the object at their key (versioning keeps the old one).",
    ),
) -> None:
    """Upload dataset files to raw/<dataset>/ingest_date=<date>/, verified by SHA-256.

    Files already there with the same content are skipped, so uploading a batch twice sends nothing."""
    from mlops_cli.services.storage.upload import plan_upload, run_upload
    from mlops_cli.ui.progress import TransferProgress

    plan = plan_upload(run.clients, run.config, paths, date=date, force=force)
    with TransferProgress(run.out) as progress:
        report = run_upload(run.clients, run.config, plan, progress)
    run.out.result(report, lambda: views.upload_view(report))


@command(app, "ls")
def ls(run: Invocation) -> None:
    """List the dataset's batches (ingest dates) with their files, sizes and versions."""
    from mlops_cli.services.storage.listing import list_batches

    listing = list_batches(run.clients, run.config)
    run.out.result(listing, lambda: views.listing_view(listing))


@command(app, "delete")
def delete(
    run: Invocation,
    delete_data: bool = typer.Option(False, "--delete-data", help="Also delete every object version in the bucket."),
) -> None:
    """Delete the data bucket. Refuses while it holds data unless --delete-data --yes.

    The access-log bucket and the KMS key are kept. Deleting a bucket that is already gone succeeds."""
    from mlops_cli.services.storage.stack import delete_storage

    if delete_data and not run.confirm(
        f"Delete the data bucket of {run.config.project}/{run.config.environment} and all its data?"
    ):
        raise typer.Exit(1)
    report = delete_storage(run.clients, run.config, delete_data=delete_data)
    run.out.result(report, lambda: views.delete_view(report))
