"""`mlops config validate | show | schema`."""

from __future__ import annotations

import json
from typing import Any

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
    scripts = {
        name: {
            "entry_point": spec.entry_point,
            "source_dir": str(spec.folder),
            "files": len(spec.files()),
            "requirements": str(spec.requirements_file) if spec.requirements_file else None,
        }
        for name, spec in (
            ("preprocess.script", config.preprocess.script),
            ("train.script", config.train.script),
            ("deploy.inference", config.deploy.inference),
        )
        if spec is not None
    }
    if scripts:  # their files, syntax and handler functions were checked with the rest
        result["scripts"] = scripts
    run.out.result(result, lambda: _valid_view(result, scripts))


def _valid_view(result: dict[str, Any], scripts: dict[str, dict[str, Any]]) -> str:
    lines = [f"[green]valid[/green]: {result['file']} ({result['project']}/{result['environment']})"]
    for name, script in scripts.items():
        requirements = f", requirements {script['requirements']}" if script["requirements"] else ""
        lines.append(
            f"  {name}: {script['entry_point']} in {script['source_dir']} ({script['files']} files{requirements})"
        )
    return "\n".join(lines)


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
