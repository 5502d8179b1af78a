"""`mlops init DIR --data FILE.csv --target COLUMN`: a new project from a CSV file nobody here wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mlops_cli.commands.common import root_options
from mlops_cli.ui.output import Output

TASKS = ("binary", "multiclass", "regression")


def init(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The project folder to create (it may exist; no file is overwritten)."),
    data: Path = typer.Option(..., "--data", help="The CSV file: UTF-8, comma-separated, a header row."),
    target: str = typer.Option(..., "--target", help="The column the model learns to predict."),
    key: str | None = typer.Option(
        None,
        "--key",
        help="The column that identifies a row. Default: the first one whose values are all there "
        "and all different (id-like names first).",
    ),
    task: str | None = typer.Option(
        None,
        "--task",
        help="binary | multiclass | regression. Default: from the target: yes/no or 2 categories → binary, 3+ "
        "categories → multiclass, numbers → regression.",
        show_default=False,
    ),
    name: str | None = typer.Option(None, "--name", help="The dataset's name. Default: the CSV file's name."),
    scripts: bool = typer.Option(
        False, "--scripts", help="Copy the shipped scripts into DIR/scripts/ and point the config at them, to edit."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout, nothing else."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only results and errors."),
) -> None:
    """A new project from a CSV file: its configs, with the dataset's schema inferred, and the file as a first batch.

    Writes DIR/configs/{base,local,dev,prod}.yaml, DIR/data/<name>/ingest_date=<today>/<file>.csv (and DIR/scripts/).

    Then `cd DIR && mlops pipeline run -c configs/local.yaml` runs every stage on the emulator.

    Types (read from the first 100,000 rows): bool (yes/no, true/false, 1/0), int, float, category, string.

    A category is text with at most 20 distinct values, each seen twice on average; other text is a string.

    Bounds: min: 0 where no value is negative, no others (one file's extremes would reject the next one's data).

    Nothing is written when something is wrong (exit 2), and no file is ever overwritten.

    Check the schema in configs/base.yaml before the first run."""
    from mlops_cli.errors import UsageError
    from mlops_cli.services.scaffold.project import InitRequest, init_project
    from mlops_cli.ui.init_views import init_view

    options = root_options(ctx)
    out = Output(json_mode=options.json or json_output, quiet=options.quiet or quiet)
    if task is not None and task not in TASKS:
        raise UsageError(f"--task {task!r} is not one of {', '.join(TASKS)}.")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} is a file, not a folder.")
    request = InitRequest(
        directory=directory,
        data=data,
        target=target,
        key=key,
        task=task,  # type: ignore[arg-type]  # checked against TASKS above
        name=name,
        scripts=scripts,
    )
    result = init_project(request)
    for warning in result.warnings:
        out.warn(warning)
    out.result(result, lambda: init_view(result))


def register(app: Any) -> None:
    app.command("init", no_args_is_help=True)(init)
