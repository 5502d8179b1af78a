"""`mlops gateway`: the REST API in front of the endpoint (API Gateway): create it, check it, call it, manage its keys."""

from __future__ import annotations

from pathlib import Path

import typer

from mlops_cli.commands.common import ACCEPT_OPTION, DATA_OPTION, FILE_OPTION, Invocation, command
from mlops_cli.ui import gateway_views as views

app = typer.Typer(
    help="The REST API in front of the endpoint: create or update it (apply), check it (status), print its URL (url), "
    "call it as a client would (invoke), manage API keys (keys), remove it (delete).",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="API keys of the usage plan (auth: api_key). Values are shown only with --reveal.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
REVEAL = typer.Option(False, "--reveal", help="Print the key's value (a secret: keep it out of logs).")


@command(app, "apply")
def apply(run: Invocation) -> None:
    """Create or update the REST API (POST /predict, GET /health), its role, validation, error responses, auth,
    stage settings and logs; deploy it when anything changed. Nothing changed: nothing is deployed."""
    from mlops_cli.services import gateway

    result = gateway.apply(run.clients, run.config)
    for warning in result.warnings:
        run.out.warn(warning)
    run.out.result(result, lambda: views.apply_view(result))
    run.out.info(f"Try it: mlops gateway invoke -c {run.config_path} --file data/examples/customers.json")


@command(app, "status")
def status(run: Invocation) -> None:
    """The API, its stage, auth, throttling, URL, last deployment, and any drift from the config."""
    from mlops_cli.services import gateway

    result = gateway.status(run.clients, run.config)
    for warning in result.warnings:
        run.out.warn(warning)
    run.out.result(result, lambda: views.status_view(result))


@command(app, "url")
def url(run: Invocation) -> None:
    """The stage's invoke URL (append /predict or /health)."""
    from mlops_cli.services import gateway

    value = gateway.require_url(run.clients, run.config)
    run.out.result({"url": value}, lambda: value)


@command(app, "invoke")
def invoke(
    run: Invocation,
    data: str | None = DATA_OPTION,
    file: Path | None = FILE_OPTION,
    accept: str = ACCEPT_OPTION,
    key: str | None = typer.Option(None, "--key", help="API key id or name to send; default: the first enabled."),
) -> None:
    """Send rows through the API over HTTPS, as a client does (with the API key, or signed with SigV4 for iam)."""
    from mlops_cli.services import gateway
    from mlops_cli.services.requests import request_body
    from mlops_cli.ui.deploy_views import prediction_view

    body, content_type = request_body(data, file, run.config.dataset)
    prediction = gateway.invoke(run.clients, run.config, body, content_type, accept, key)
    run.out.result(prediction.body, lambda: prediction_view(prediction))


@command(app, "delete")
def delete(run: Invocation) -> None:
    """Delete the API, its usage plan and keys, its role and log groups. Clients lose access at once."""
    from mlops_cli.services import gateway

    if not run.confirm(f"Delete REST API {run.config.names().prefix} and its API keys?"):
        raise typer.Exit(1)
    result = gateway.delete(run.clients, run.config)
    run.out.result(result, lambda: views.delete_view(result))


@command(keys_app, "list")
def keys_list(run: Invocation, reveal: bool = REVEAL) -> None:
    """The usage plan's keys: id, name, enabled, created."""
    from mlops_cli.services import gateway_keys

    keys = gateway_keys.list_keys(run.clients, run.config, reveal=reveal)
    run.out.result(keys, lambda: views.keys_view(keys, reveal))


@command(keys_app, "show")
def keys_show(
    run: Invocation, key: str = typer.Argument("default", help="Key id or name."), reveal: bool = REVEAL
) -> None:
    """One key; with --reveal, only its value (for scripts: KEY=$(mlops gateway keys show --reveal -c …))."""
    from mlops_cli.services import gateway_keys

    found = gateway_keys.show_key(run.clients, run.config, key, reveal=reveal)
    if reveal and not run.out.json_mode:
        typer.echo(found.value)
        return
    run.out.result(found, lambda: views.keys_view([found], reveal))


@command(keys_app, "create")
def keys_create(
    run: Invocation, name: str = typer.Argument(..., help="Short name, e.g. a client's."), reveal: bool = REVEAL
) -> None:
    """A new key in the usage plan, named <project>-<env>-NAME."""
    from mlops_cli.services import gateway_keys

    created = gateway_keys.create_key(run.clients, run.config, name, reveal=reveal)
    run.out.result(created, lambda: views.keys_view([created], reveal))


@command(keys_app, "revoke")
def keys_revoke(run: Invocation, key: str = typer.Argument(..., help="Key id or name.")) -> None:
    """Remove a key from the usage plan and delete it: its requests get 403 from then on."""
    from mlops_cli.services import gateway_keys

    if not run.confirm(f"Revoke API key {key} (its callers lose access)?"):
        raise typer.Exit(1)
    revoked = gateway_keys.revoke_key(run.clients, run.config, key)
    run.out.result(revoked, lambda: views.keys_view([revoked], False, title="Revoked"))
