"""`mlops config validate | show | schema`."""

from __future__ import annotations

import json

import typer

from mlops_cli.commands.common import Invocation, command

app = typer.Typer(help="Check and inspect configuration files.", no_args_is_help=True)


@command(app, "validate")
def validate(run: Invocation) -> None:
    """Validate the config: every problem is printed at once, with file, line and field (exit 2 if any)."""
    loaded = run.loaded
    config = loaded.config
    result = {
        "valid": True,
        "file": str(loaded.path),
        "project": config.project,
        "environment": config.environment,
        "region": config.aws.region,
        "endpoint": config.aws.endpoint_url or "aws",
        "bucket": config.names().data_bucket if config.storage.bucket else "(derived once the account is known)",
    }
    run.out.result(result, lambda: f"[green]valid[/green]: {loaded.path} ({config.project}/{config.environment})")


@command(app, "show")
def show(run: Invocation) -> None:
    """Print the resolved config: extends, ${VAR} and --set applied, defaults filled in, secrets masked."""
    from mlops_cli.config.masking import masked

    data = masked(run.config.model_dump(mode="json", exclude={"extends"}, by_alias=True))
    run.out.result(data, lambda: _yaml(data))


@command(app, "schema")
def schema(run: Invocation) -> None:
    """Print the JSON Schema of config files, for editors (e.g. the YAML language server)."""
    from mlops_cli.config.models import Config

    print(json.dumps(Config.model_json_schema(), indent=2))


def _yaml(data: object) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)
