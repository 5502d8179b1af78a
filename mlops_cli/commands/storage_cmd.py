"""`mlops storage` (placeholder)."""

import typer

app = typer.Typer(help="The data bucket.", no_args_is_help=True)
