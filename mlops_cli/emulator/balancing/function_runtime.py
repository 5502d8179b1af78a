"""One execution environment of a Lambda function (Python runtimes): imports the handler once, then runs one
invocation at a time, as the Lambda runtime does. Run by the emulator as a subprocess, by path, with the standard
library only:

    python -I -u function_runtime.py --code-dir DIR --handler module.function [--function-name ... ]

Protocol: one JSON object per line. Stdin brings `{"requestId", "event", "timeoutMs"}`; the original stdout
answers first `{"ready": true}` or `{"initError": {...}}`, then per invocation `{"result": ...}` or
`{"error": {"errorType", "errorMessage", "stackTrace"}}`. Whatever the function prints goes to stderr, which the
emulator ships to the function's log group, as Lambda does.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import threading
import time
import traceback
from typing import IO, Any

_ORPHAN_CHECK_SECONDS = 1.0


class Context:
    """The attributes and method of the Lambda context object that functions use."""

    def __init__(self, args: argparse.Namespace, request_id: str, deadline: float) -> None:
        self.function_name = args.function_name
        self.function_version = args.function_version
        self.invoked_function_arn = args.function_arn
        self.memory_limit_in_mb = args.memory
        self.aws_request_id = request_id
        self.log_group_name = args.log_group
        self.log_stream_name = args.log_stream
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _error(error: BaseException, error_type: str | None = None) -> dict[str, Any]:
    return {
        "errorType": error_type or type(error).__name__,
        "errorMessage": str(error),
        "stackTrace": traceback.format_exception(type(error), error, error.__traceback__),
    }


def _send(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=str) + "\n")
    channel.flush()


def _exit_when_orphaned(parent: int) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_ORPHAN_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _load(handler: str) -> Any:
    module_name, _dot, function_name = handler.rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"Bad handler '{handler}': not enough values to unpack (expected 2, got 1)")
    try:
        module = importlib.import_module(module_name.replace("/", "."))
    except Exception as error:
        raise ImportError(f"Unable to import module '{module_name}': {error}") from error
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'")
    return function


def serve(args: argparse.Namespace) -> int:
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")  # the protocol keeps the original stdout
    os.dup2(2, 1)  # print() in the function now goes to stderr, the function's log
    _exit_when_orphaned(os.getppid())
    sys.path.insert(0, args.code_dir)
    os.chdir(args.code_dir)
    try:
        function = _load(args.handler)
    except ImportError as error:
        traceback.print_exc()
        _send(channel, {"initError": _error(error, "Runtime.ImportModuleError")})
        return 1
    except Exception as error:
        traceback.print_exc()
        _send(channel, {"initError": _error(error, "Runtime.HandlerNotFound")})
        return 1
    _send(channel, {"ready": True})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        context = Context(args, request["requestId"], time.time() + request["timeoutMs"] / 1000)
        try:
            result = function(request["event"], context)
        except Exception as error:
            traceback.print_exc()
            _send(channel, {"error": _error(error)})
            continue
        try:
            answer = json.dumps({"result": result})
        except (TypeError, ValueError) as error:
            _send(channel, {"error": _error(error, "Runtime.MarshalError")})
            continue
        channel.write(answer + "\n")
        channel.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--code-dir", required=True, help="the extracted deployment package (LAMBDA_TASK_ROOT)")
    parser.add_argument("--handler", required=True, help="module.function")
    parser.add_argument("--function-name", default="")
    parser.add_argument("--function-version", default="$LATEST")
    parser.add_argument("--function-arn", default="")
    parser.add_argument("--memory", type=int, default=128)
    parser.add_argument("--log-group", default="")
    parser.add_argument("--log-stream", default="")
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
