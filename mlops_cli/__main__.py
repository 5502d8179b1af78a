"""`python -m mlops_cli` is `mlops`."""

from mlops_cli.main import app

# like the `mlops` console script: a command's `typer.Exit(code)` comes back as app()'s return value
raise SystemExit(app())
