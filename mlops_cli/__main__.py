"""`python -m mlops_cli` is `mlops`."""

from mlops_cli.main import app

app()
