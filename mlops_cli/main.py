"""The root command: global options, one sub-application per stage, and the single error handler."""

from __future__ import annotations

import sys
import traceback
from typing import Any

import typer
from typer.core import TyperGroup

from mlops_cli import __version__
from mlops_cli.commands import (
    config_cmd,
    deploy_cmd,
    gateway_cmd,
    init_cmd,
    lb_cmd,
    local_cmd,
    pipeline_cmd,
    preprocess_cmd,
    register_cmd,
    storage_cmd,
    train_cmd,
)
from mlops_cli.commands.common import COMMON_PARAMETERS, options_from
from mlops_cli.errors import ConfigError, Interrupted, MlopsError

INTERRUPTED = "Interrupted."
INTERRUPTED_HINT = "Running the command again continues where it stopped."


def interrupted() -> Interrupted:
    return Interrupted(INTERRUPTED, hint=INTERRUPTED_HINT)


class _RootGroup(TyperGroup):
    """Turns Ctrl-C into `Interrupted` wherever it lands. Typer would otherwise turn a KeyboardInterrupt into
    `Exit(130)`, which `standalone_mode=False` returns as a bare exit code: no message, no JSON error."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().make_context(*args, **kwargs)
        except (KeyboardInterrupt, typer.Abort):
            raise interrupted() from None

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, typer.Abort):  # Abort: Ctrl-C at a prompt
            raise interrupted() from None


class MlopsApp(typer.Typer):
    """A Typer app whose every error leaves through one place, with the documented exit code."""

    def __call__(self, args: list[str] | None = None, **kwargs: Any) -> Any:
        argv = sys.argv[1:] if args is None else list(args)
        # the error handler runs outside click's parsing, so it reads these two flags itself
        verbose = any(arg in ("-v", "--verbose") for arg in argv)
        json_mode = "--json" in argv
        try:
            return super().__call__(args=argv, standalone_mode=False, **kwargs)
        except MlopsError as exc:
            _report(exc, exc.exit_code, json_mode, verbose)
            sys.exit(exc.exit_code)
        except typer.Exit as exc:
            sys.exit(exc.exit_code)
        except (typer.Abort, KeyboardInterrupt):
            stopped = interrupted()
            _report(stopped, stopped.exit_code, json_mode, verbose=False)
            sys.exit(stopped.exit_code)
        except Exception as exc:
            if _is_usage_error(exc):  # click's own errors (bad option, missing argument, unknown command)
                exc.show()  # type: ignore[attr-defined]
                sys.exit(exc.exit_code)  # type: ignore[attr-defined]
            if (translated := _from_aws(exc)) is not None:
                _report(translated, translated.exit_code, json_mode, verbose)
                sys.exit(translated.exit_code)
            _report(exc, 1, json_mode, verbose=True)
            sys.exit(1)
        finally:
            _forget_outage_listener()


def _forget_outage_listener() -> None:
    """The command's outage notices write to its output; a later command in the same process (tests) has its own."""
    errors = sys.modules.get("mlops_cli.aws.errors")  # only if this command imported it: start-up stays light
    if errors is not None:
        errors.report_outages_to(None)


def _from_aws(exc: Exception) -> MlopsError | None:
    """A botocore/boto3 error that reached here untranslated still gets its exit code and message."""
    if "botocore" not in sys.modules:  # nothing talked to AWS: no need to import it
        return None
    from mlops_cli.aws.errors import kind_of, translate_exception

    return translate_exception(exc, "talking to AWS") if kind_of(exc) is not None else None


def _is_usage_error(exc: Exception) -> bool:
    # Typer may bundle its own copy of click, so its exception classes are recognised by shape, not by import
    return callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int)


def _report(exc: BaseException, code: int, json_mode: bool, verbose: bool) -> None:
    from mlops_cli.ui.output import Output

    out = Output(json_mode=json_mode, verbose=verbose)
    if verbose:
        out.stderr.print(traceback.format_exc(), markup=False)
    if isinstance(exc, MlopsError):
        message = exc.message
        out.error(message.replace("[", r"\["))
        if exc.hint:
            out.stderr.print(exc.hint.replace("[", r"\["))
    else:
        message = f"unexpected {type(exc).__name__}: {exc}"
        out.error(f"{message.replace('[', chr(92) + '[')} (this is a bug in mlops; please report it)")
    if json_mode:
        error: dict[str, Any] = {"exit_code": code, "type": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, ConfigError):  # a script reads each problem's place without parsing the message
            error["problems"] = exc.details
            error["problem_count"] = exc.total
        out.result({"error": error})


app = MlopsApp(
    cls=_RootGroup,
    name="mlops",
    help="Build and run a machine-learning system on AWS SageMaker from one YAML config.\n\n"
    "Start with `mlops local up` and `mlops storage init -c configs/local.yaml` to try it on this machine.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mlops {__version__}")
        raise typer.Exit()


def _root(ctx: typer.Context, **values: Any) -> None:
    ctx.obj = options_from(values)


def _install_root_callback() -> None:
    import inspect

    params = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
    params += [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)
        for name, annotation, option in COMMON_PARAMETERS
    ]
    params.append(
        inspect.Parameter(
            "version",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=bool,
            default=typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
        )
    )

    def root(**values: Any) -> None:
        values.pop("version", None)
        _root(**values)

    root.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    root.__annotations__ = {p.name: p.annotation for p in params}
    app.callback()(root)


_install_root_callback()
init_cmd.register(app)
app.add_typer(config_cmd.app, name="config")
app.add_typer(local_cmd.app, name="local")
app.add_typer(storage_cmd.app, name="storage")
app.add_typer(preprocess_cmd.app, name="preprocess")
app.add_typer(train_cmd.app, name="train")
app.add_typer(register_cmd.app, name="register")
app.add_typer(deploy_cmd.app, name="deploy")
app.add_typer(gateway_cmd.app, name="gateway")
app.add_typer(lb_cmd.app, name="lb")
app.add_typer(pipeline_cmd.app, name="pipeline")
