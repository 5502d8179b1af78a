"""`mlops local`: the embedded emulator (placeholder until the emulator lands)."""

import typer

app = typer.Typer(help="Run the embedded AWS emulator on this machine (127.0.0.1 only).", no_args_is_help=True)
