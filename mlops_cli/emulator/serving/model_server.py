"""The inference server one endpoint variant runs: the serving container's contract (`GET /ping`, `POST
/invocations`) around the user's handler module, without nginx, gunicorn or Docker.

The emulator runs it by path, `python -I -u model_server.py --model-dir D --code-dir C --program inference.py`: it
needs only the standard library, so nothing of the project leaks onto the handler's sys.path. The interpreter is
the server's, or, when the code folder has a requirements.txt, that of the environment it was installed into
(python_envs). The environment is the
model's (CreateModel's Environment, paths mapped to the work folder).

How it serves, like gunicorn with preloading: the parent binds a free port on 127.0.0.1 and imports the handler
module once; it then forks SAGEMAKER_MODEL_SERVER_WORKERS workers (default 2). Each worker calls `model_fn` once
and serves requests on the shared socket, a thread per connection. When every worker has loaded its model the
parent prints `READY_LINE<port>`; when one cannot, it prints `LOAD_FAILED_LINE<reason>` and exits LOAD_FAILED_EXIT.
A worker that dies later is replaced. SIGTERM stops the workers and the parent; so does the parent's parent going
away (an emulator killed with SIGKILL leaves no server behind).

Per request: `invoke(model, body, content_type, accept) -> (status, body, content_type)` if the module has it (the
project's inference.py), else transform_fn, else input_fn → predict_fn → output_fn (each with the container's
default when missing). The body is what the container's worker hands over: text (UTF-8, invalid bytes replaced)
for a Content-Type of exactly application/json, text/csv or */*, bytes for any other. An exception carrying an int
`status_code` (sagemaker_inference's errors) is answered with that status; any other is a 500 with the body
{"error": <class>, "error-message": <message>}.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import os
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import ModuleType
from typing import Any

HOST = "127.0.0.1"
READY_LINE = "mlops-model-server: ready on port "
LOAD_FAILED_LINE = "mlops-model-server: model loading failed: "
LOAD_FAILED_EXIT = 3
MAX_BODY_BYTES = 6_291_456  # InvokeEndpoint's limit
_MAX_DISCARDED_BYTES = 4 * MAX_BODY_BYTES  # a larger refused body is not read to its end
DEFAULT_WORKERS = 2
_MAX_RESTARTS = 10  # replacing workers that keep dying would only hide the problem
_ORPHAN_CHECK_SECONDS = 1.0

JSON = "application/json"
CSV = "text/csv"


def _say(message: str) -> None:
    print(f"mlops-model-server [{os.getpid()}]: {message}", flush=True)


def media_type(header: str | None) -> str:
    return (header or "").split(";", 1)[0].strip().lower()


# -------------------------------------------------------------------------------------------------- the handlers


class Handlers:
    """The user module's functions, with the serving container's defaults for the ones it leaves out."""

    def __init__(self, module: ModuleType, default_accept: str) -> None:
        self.module = module
        self.default_accept = default_accept
        self.model: Any = None

    def load(self, model_dir: str) -> None:
        model_fn = getattr(self.module, "model_fn", None)
        if model_fn is None:  # the container's default_model_fn raises too
            raise NotImplementedError(f"{self.module.__name__} defines no model_fn(model_dir)")
        self.model = model_fn(model_dir)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[int, bytes, str]:
        if not accept or accept == "*/*":  # the container substitutes its default here
            accept = self.default_accept
        content = request_content(body, content_type)
        invoke = getattr(self.module, "invoke", None)
        if invoke is not None:
            status, answer, answer_type = invoke(self.model, content, content_type, accept)
            return int(status), _as_bytes(answer), str(answer_type)
        transform_fn = getattr(self.module, "transform_fn", None)
        if transform_fn is not None:
            return _normalised(transform_fn(self.model, content, content_type, accept), accept)
        data = getattr(self.module, "input_fn", default_input_fn)(content, content_type)
        prediction = getattr(self.module, "predict_fn", default_predict_fn)(data, self.model)
        return _normalised(getattr(self.module, "output_fn", default_output_fn)(prediction, accept), accept)


def request_content(body: bytes, content_type: str) -> str | bytes:
    """What the container's worker hands the handlers (`Request.content`): text for a Content-Type that is exactly
    one of sagemaker-containers' UTF8_TYPES (application/json, text/csv, */*), decoded from UTF-8 as werkzeug does
    (a byte that is not UTF-8 becomes U+FFFD), the bytes for any other."""
    if content_type in (JSON, CSV, "*/*"):
        return body.decode("utf-8", errors="replace")
    return body


class UnsupportedFormat(Exception):
    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


def default_input_fn(body: str | bytes, content_type: str) -> Any:
    """The container's default decoder: a JSON list or numeric CSV lines into a float32 array."""
    import numpy as np

    kind = media_type(content_type) or JSON
    if kind == JSON:
        return np.array(json.loads(body), dtype=np.float32)
    if kind == CSV:
        text = body if isinstance(body, str) else body.decode()
        return np.genfromtxt(io.StringIO(text), delimiter=",", dtype=np.float32, ndmin=2)
    raise UnsupportedFormat(415, f"Content type {content_type} is not supported by this framework.")


def default_predict_fn(data: Any, model: Any) -> Any:
    return model.predict(data)


def default_output_fn(prediction: Any, accept: str) -> tuple[str, str]:
    kind = media_type(accept) or JSON
    values = prediction.tolist() if hasattr(prediction, "tolist") else prediction
    if kind == JSON:
        return json.dumps(values), JSON
    if kind == CSV:
        rows = values if values and isinstance(values[0], list) else [[value] for value in values]
        return "".join(",".join(str(item) for item in row) + "\n" for row in rows), CSV
    raise UnsupportedFormat(406, f"Accept type {accept} is not supported by this framework.")


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    return str(body).encode("utf-8")


def _normalised(result: Any, accept: str) -> tuple[int, bytes, str]:
    """output_fn's `(body, content type)`, or a bare body answered in the accepted type."""
    if isinstance(result, tuple) and len(result) == 2:
        return 200, _as_bytes(result[0]), str(result[1])
    return 200, _as_bytes(result), accept


def error_answer(error: BaseException) -> tuple[int, bytes, str]:
    status = getattr(error, "status_code", None)
    if not isinstance(status, int) or not 400 <= status <= 599:
        status = 500
    message = getattr(error, "message", None) or str(error)
    body = json.dumps({"error": type(error).__name__, "error-message": str(message)})
    return status, body.encode(), JSON


# ---------------------------------------------------------------------------------------------------- HTTP server


class Server(ThreadingHTTPServer):
    daemon_threads = True
    handlers: Handlers | None = None


class RequestHandler(BaseHTTPRequestHandler):
    server: Server
    server_version = "mlops-model-server"

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] == "/ping":
            self._answer(200, b"\n", "text/html")
        else:
            self._answer(404, b"{}", JSON)

    def do_POST(self) -> None:
        if self.path.split("?", 1)[0] != "/invocations" or self.server.handlers is None:
            self._answer(404, b"{}", JSON)
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._answer(400, b'{"error": "the Content-Length header is not a number of bytes"}', JSON)
            return
        if length > MAX_BODY_BYTES:
            # Read what was sent first: a client still sending when the answer comes sees a broken pipe instead.
            self._discard(length)
            self._answer(413, b'{"error": "the request body is larger than 6 MB (6291456 bytes)"}', JSON)
            return
        body = self.rfile.read(length) if length else b""
        # The container reads ContentType first, then Content-Type, and assumes JSON without either.
        content_type = self.headers.get("ContentType") or self.headers.get("Content-Type") or JSON
        accept = self.headers.get("Accept") or ""
        try:
            status, answer, answer_type = self.server.handlers.invoke(body, content_type, accept)
        except Exception as error:
            traceback.print_exc(file=sys.stdout)
            status, answer, answer_type = error_answer(error)
        self._answer(status, answer, answer_type)

    def _discard(self, length: int) -> None:
        if length > _MAX_DISCARDED_BYTES:
            self.close_connection = True  # not worth reading: the client gets the answer or a reset
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # An access-log line per request, like gunicorn's, on stdout: the emulator ships it to CloudWatch Logs.
        print(f"{self.address_string()} - - [{self.log_date_time_string()}] {format % args}", flush=True)


# ------------------------------------------------------------------------------------------------------ processes


def _exit_when_orphaned(parent: int, before_exit: Any = None) -> None:
    """A thread that ends this process once `parent` is gone (it was killed without stopping us first)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_ORPHAN_CHECK_SECONDS)
        if before_exit is not None:
            before_exit()
        os._exit(0)

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def _fork_worker(server: Server, handlers: Handlers, model_dir: str, ready_fd: int | None, others: list[int]) -> int:
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signals (the parent's handlers were inherited), model_fn once, then serve.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    for fd in others:
        with contextlib.suppress(OSError):
            os.close(fd)
    _exit_when_orphaned(os.getppid())
    started = time.monotonic()
    try:
        handlers.load(model_dir)
    except BaseException as error:
        traceback.print_exc(file=sys.stdout)
        print(f"{LOAD_FAILED_LINE}{type(error).__name__}: {error}", flush=True)
        os._exit(LOAD_FAILED_EXIT)
    _say(f"worker loaded the model in {time.monotonic() - started:.2f} s")
    if ready_fd is not None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)
    server.handlers = handlers
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        os._exit(0)


def _stop(children: set[int]) -> None:
    for pid in list(children):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def serve(args: argparse.Namespace) -> int:
    sys.path.insert(0, args.code_dir)  # the handler imports its neighbours (mlops_schema, ...) from there
    os.chdir(args.code_dir)
    module_name = args.program[:-3] if args.program.endswith(".py") else args.program
    try:
        module = importlib.import_module(module_name)
    except BaseException as error:
        traceback.print_exc(file=sys.stdout)
        print(f"{LOAD_FAILED_LINE}could not import {args.program}: {type(error).__name__}: {error}", flush=True)
        return LOAD_FAILED_EXIT
    handlers = Handlers(module, os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or JSON)
    server = Server((HOST, 0), RequestHandler)
    # Non-blocking accept: every worker waits on the shared socket, the losers of each accept go back to waiting.
    server.socket.setblocking(False)
    workers = max(1, int(os.environ.get("SAGEMAKER_MODEL_SERVER_WORKERS") or DEFAULT_WORKERS))
    _say(f"starting {workers} worker(s) for {args.program} (model {args.model_dir})")

    children: set[int] = set()
    read_fd, write_fd = os.pipe()
    for _ in range(workers):
        children.add(_fork_worker(server, handlers, args.model_dir, write_fd, [read_fd]))
    os.close(write_fd)
    loaded = 0
    while loaded < workers:
        chunk = os.read(read_fd, workers)  # b"" once every worker has loaded or died
        if not chunk:
            break
        loaded += len(chunk)
    os.close(read_fd)
    if loaded < workers:
        _stop(children)
        print(f"{LOAD_FAILED_LINE}{workers - loaded} of {workers} worker(s) could not load the model", flush=True)
        return LOAD_FAILED_EXIT

    stopping = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stopping.set()
        _stop(children)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    _exit_when_orphaned(os.getppid(), before_exit=lambda: _stop(children))
    print(f"{READY_LINE}{server.server_address[1]}", flush=True)
    restarts = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.discard(pid)
        if stopping.is_set():
            continue
        code = os.waitstatus_to_exitcode(status)
        if restarts >= _MAX_RESTARTS:
            _say(f"worker {pid} exited ({code}); not replaced: {restarts} workers were replaced already")
            continue
        restarts += 1
        _say(f"worker {pid} exited ({code}); starting a new one")
        children.add(_fork_worker(server, handlers, args.model_dir, None, []))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="the extracted model.tar.gz (stands for /opt/ml/model)")
    parser.add_argument("--code-dir", required=True, help="the folder holding the handler module")
    parser.add_argument("--program", required=True, help="the handler module's file name (SAGEMAKER_PROGRAM)")
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
