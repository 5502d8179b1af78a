"""Options every command accepts, both before the group (`mlops --json storage ls`) and after the command
(`mlops storage ls --json`), and the per-invocation state built from them."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from mlops_cli.errors import UsageError
from mlops_cli.ui.output import Output

if TYPE_CHECKING:
    from mlops_cli.aws.session import AwsClients
    from mlops_cli.config.loader import LoadedConfig

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class GlobalOptions:
    config: Path | None = None
    json: bool = False
    verbose: bool = False
    quiet: bool = False
    yes: bool = False
    overrides: list[str] = field(default_factory=list)

    def merged(self, other: GlobalOptions) -> GlobalOptions:
        """`other` (given after the command) wins over these (given before it)."""
        return GlobalOptions(
            config=other.config or self.config,
            json=self.json or other.json,
            verbose=self.verbose or other.verbose,
            quiet=self.quiet or other.quiet,
            yes=self.yes or other.yes,
            overrides=[*self.overrides, *other.overrides],
        )


# (parameter name, typer option): the same declarations serve the root callback and every command.
COMMON_PARAMETERS: list[tuple[str, Any, Any]] = [
    (
        "config",
        Path | None,
        typer.Option(None, "--config", "-c", help="Config file (or MLOPS_CONFIG).", show_default=False),
    ),
    (
        "json_output",
        bool,
        typer.Option(False, "--json", help="Print the result as JSON on stdout, nothing else."),
    ),
    (
        "verbose",
        bool,
        typer.Option(False, "--verbose", "-v", help="More detail on stderr; tracebacks on errors."),
    ),
    ("quiet", bool, typer.Option(False, "--quiet", "-q", help="Only results and errors.")),
    ("yes", bool, typer.Option(False, "--yes", "-y", help="Confirm destructive actions without a prompt.")),
    (
        "overrides",
        list[str] | None,
        typer.Option(None, "--set", help="Override one config value: key.path=value (repeatable).", metavar="K=V"),
    ),
]


def options_from(values: dict[str, Any]) -> GlobalOptions:
    return GlobalOptions(
        config=values.get("config"),
        json=bool(values.get("json_output")),
        verbose=bool(values.get("verbose")),
        quiet=bool(values.get("quiet")),
        yes=bool(values.get("yes")),
        overrides=list(values.get("overrides") or []),
    )


class Invocation:
    """What one command run needs: its options, its output, and (lazily) its config and AWS clients."""

    def __init__(self, options: GlobalOptions) -> None:
        self.options = options
        self.out = Output(json_mode=options.json, quiet=options.quiet, verbose=options.verbose)
        self._loaded: LoadedConfig | None = None
        self._clients: AwsClients | None = None

    @property
    def config_path(self) -> Path:
        path = self.options.config or (Path(env) if (env := os.environ.get("MLOPS_CONFIG")) else None)
        if path is None:
            raise UsageError(
                "no config file given.",
                hint="Pass --config FILE (e.g. -c configs/local.yaml) or set MLOPS_CONFIG.",
            )
        return path

    @property
    def loaded(self) -> LoadedConfig:
        if self._loaded is None:
            from mlops_cli.config.loader import load_config

            self._loaded = load_config(self.config_path, self.options.overrides)
        return self._loaded

    @property
    def config(self) -> Any:
        return self.loaded.config

    @property
    def clients(self) -> AwsClients:
        if self._clients is None:
            from mlops_cli.aws.session import AwsClients

            config = self.config  # validated before any AWS call
            if config.aws.is_local:
                self._announce_emulator()
            self._clients = AwsClients(config.aws)
            from mlops_cli.aws.errors import report_outages_to
            from mlops_cli.ui.progress import OutageNotice

            report_outages_to(OutageNotice(self.out))  # every wait in this command says when it retries
        return self._clients

    def _announce_emulator(self) -> None:
        """`endpoint_url: local` starts the emulator on demand; say so, and where its log is."""
        from mlops_cli.emulator import manager

        if not manager.status().running:
            info = manager.ensure_running()
            self.out.info(
                f"Started the embedded emulator at {info.endpoint_url} (log: {info.log_path}); "
                "`mlops local down` stops it."
            )
            if info.replaced_lost_since:
                self.out.warn(lost_emulator_warning(info.replaced_lost_since))

    def confirm(self, question: str) -> bool:
        """True when --yes was given, or a person at a terminal says yes. Never prompts a script."""
        if self.options.yes:
            return True
        if not self.out.interactive:
            raise UsageError(f"{question} needs confirmation.", hint="Run again with --yes to confirm.")
        return typer.confirm(question, default=False, err=True)


def lost_emulator_warning(started_at: str) -> str:
    return (
        f"the emulator started at {started_at} ended without `mlops local down` (killed, crashed or the machine "
        "restarted), and its state went with it: buckets, jobs, models and endpoints are gone. This one starts "
        "empty; run `mlops pipeline run -c CONFIG` to build everything again."
    )


def root_options(ctx: typer.Context) -> GlobalOptions:
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, GlobalOptions) else GlobalOptions()


def command(app: typer.Typer, name: str, **kwargs: Any) -> Callable[[F], F]:
    """Register `func(run: Invocation, ...)` as a command that also accepts the common options."""

    def decorate(func: F) -> F:
        signature = inspect.signature(func, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "run"]
        common = [
            inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
            for pname, annotation, option in COMMON_PARAMETERS
        ]
        ctx_param = inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)
        own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own]

        @functools.wraps(func)
        def wrapper(**values: Any) -> Any:
            ctx = values.pop("ctx")
            common_values = {pname: values.pop(pname) for pname, _, _ in COMMON_PARAMETERS}
            options = root_options(ctx).merged(options_from(common_values))
            return func(Invocation(options), **values)

        wrapper.__signature__ = signature.replace(parameters=[ctx_param, *own, *common])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in [ctx_param, *own, *common]}
        app.command(name, **kwargs)(wrapper)
        return func

    return decorate


# The rows of `deploy invoke` and `gateway invoke`: one way to give them, whichever path they take.
DATA_OPTION = typer.Option(None, "--data", help='JSON: {"instances": [{...}]}, a list of records, or one record.')
FILE_OPTION = typer.Option(None, "--file", help="rows.csv (a header row is matched by name) or rows.json.")
ACCEPT_OPTION = typer.Option("application/json", "--accept", help="application/json or text/csv.")
