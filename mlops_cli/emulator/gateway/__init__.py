"""API Gateway's data plane (execute-api) for REST APIs deployed on the emulator, which moto only stores.

A deployed API answers at `<emulator>/restapis/<api id>/<stage>/_user_request_/<resource path>` (the URL
convention LocalStack uses too); every other request goes to moto unchanged. Each request takes API Gateway's
steps, in API Gateway's order, on what was DEPLOYED to the stage (not the API's current state):

- `routing` finds the API, the stage and its deployment, then the resource and method for the URL;
- `snapshots` records, at CreateDeployment, what a deployment serves (a reversible patch of moto);
- `auth` checks SigV4 presence for AWS_IAM methods, API keys and usage plans, throttling and quotas;
- `validation` checks required parameters and the body against the method's model (JSON Schema draft 4);
- `templates` renders the small VTL subset the project's mapping templates use;
- `integration` calls the back end: SageMaker's runtime InvokeEndpoint in-process, or a MOCK;
- `responses` picks the integration response and shapes every error as the API's gateway responses say;
- `access_log` writes the stage's access log line to CloudWatch Logs; `middleware` is the WSGI glue.

A configuration outside what the project creates is refused with a clear 500 (`errors.NotSupported`), never
served wrongly. Installed by the server (`install()`), which wraps moto's application in `middleware.GatewayRoute`.
"""

from __future__ import annotations


def install() -> None:
    """Snapshot every deployment from now on (the middleware does it before moto handles an API Gateway request)."""
    from mlops_cli.emulator.gateway import snapshots

    for patch in snapshots.PATCHES:
        patch.apply()


def uninstall() -> None:
    from mlops_cli.emulator.gateway import snapshots

    for patch in reversed(snapshots.PATCHES):
        patch.revert()
