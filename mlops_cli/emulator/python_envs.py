"""Python environments for user code's requirements.txt, installed as SageMaker's containers install it
(`python -m pip install -r requirements.txt` with the code folder as the working directory), but never into the
emulator's own venv.

Two kinds of environment, both venvs without pip of their own (`pip` is the server's, found through the .pth, and
installs into whichever venv runs it, as `sys.prefix` says; only a server without pip gives each venv its own):
- a cached environment per requirements file: `<home>/python-envs/<key>/`, the key a hash of the file's content,
  the Python version, the path of the server's interpreter and whether the container has a network. It is built
  once, under a file lock, and only counts as built once pip has succeeded (the marker file is written last); a
  build that fails is removed, and one that was interrupted is removed by the next build.
- a layer per job host or model server (in its work folder): a fresh venv that sees the cached environment's
  packages and then the image's. What the user's code installs at run time (runproc.sh's own
  `pip install -r requirements.txt`, a script calling pip) lands in the layer, so no job changes the cache.

Why venvs and not `pip install --target DIR` with DIR first on PYTHONPATH: a venv's `bin/python3` and `bin/pip`,
first on PATH, are what runproc.sh's `python3 -m pip install` and `exec python3` run, with no wrapper; pip in a venv
installs a pinned version over the image's without touching it (it refuses to uninstall a distribution outside its
environment: "Not uninstalling ... outside environment"), and sees the image's packages as installed, as pip in the
image does; PYTHONPATH is ignored by the model server, which runs with `python -I`.

The image's packages: the server's site-packages folders, each a plain line of a .pth file, listed after the venv's
own site-packages so that a pin wins. The .pth files inside them are not run, so an editable install of this tool
(which the image does not have) stays out of the user's code.

Network isolation: an isolated container has no network, so there pip can install only what needs none (wheels or
folders named in the bundle, `--no-index --find-links ./wheels`, or a requirement the image satisfies already).
The emulator does not rewrite the requirements (adding `--no-index` would also refuse an index on the local
disk); it gives pip a proxy nothing listens on (every download fails at once, as without a network), no retries,
no download cache (a fresh container has none, and a cached index page would make an offline install succeed
that fails on AWS), and none of this machine's pip configuration (its mirrors and wheel folders). Isolated and
connected builds are cached apart: a connected job's download must not make an isolated job's install succeed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import site
import subprocess
import sys
import sysconfig
import threading
import time
import venv
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import filelock

REQUIREMENTS = "requirements.txt"
MARKER = "mlops-env.json"  # written last: an environment without it is not (yet, or no longer) usable
IMAGE_PTH = "_mlops_image.pth"
LAYER_PTH = "_mlops_layer.pth"
STDERR_TAIL_LINES = 20
LOCK_POLL_SECONDS = 0.2
# The discard port on loopback: nothing listens, so a connection through this proxy is refused at once.
NO_NETWORK_PROXY = "http://127.0.0.1:9"
# What pip needs from the server's environment to start (never credentials or the user's AWS settings) ...
_PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "TZ", "USER", "LOGNAME")
# ... and, for a container with a network, how this machine reaches an index (a mirror, a corporate proxy).
_NETWORK_SETTINGS = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "PIP_CERT",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
)
_PIP_WRAPPER = '#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n'

Cancelled = Callable[[], bool]
LineSink = Callable[[str], None]


class BuildCancelled(Exception):
    """The job or server that needed the environment stopped while pip ran (or while it waited for another build)."""


class InstallFailed(Exception):
    """pip exited non-zero: what the toolkits report (their errors' ExitCode, ErrorMessage and Command)."""

    def __init__(self, exit_code: int, command: list[str], stderr_tail: list[str]) -> None:
        self.exit_code = exit_code
        self.command = command
        self.stderr_tail = stderr_tail
        super().__init__(f"{' '.join(command)} exited {exit_code}: {self.message}")

    @property
    def message(self) -> str:
        return "\n".join(self.stderr_tail)


@dataclass(frozen=True)
class PythonEnv:
    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def python(self) -> Path:
        return self.bin_dir / "python3"

    @property
    def site_packages(self) -> Path:
        scheme = "venv" if "venv" in sysconfig.get_scheme_names() else "posix_prefix"
        base = {"base": str(self.root), "platbase": str(self.root)}
        return Path(sysconfig.get_path("purelib", scheme, vars=base))

    def first_on_path(self, path: str | None) -> str:
        """`path` (a PATH value) with this environment's bin folder first: `python3` and `pip` are this env's."""
        return os.pathsep.join(part for part in (str(self.bin_dir), path) if part)


def image_site_dirs() -> list[str]:
    """The folders that hold the image's packages: the server's site-packages (and pip's own folder, when pip comes
    from somewhere else, as in a pipx venv)."""
    folders = [folder for folder in site.getsitepackages() if Path(folder).is_dir()]
    pip = importlib.util.find_spec("pip")
    if pip is not None and pip.origin:
        home = str(Path(pip.origin).resolve().parent.parent)
        if home not in folders:
            folders.append(home)
    return folders


def environment_key(requirements: bytes, *, isolated: bool, interpreter: str | None = None) -> str:
    """The cache key: the requirements file's content, the Python version, the server's interpreter and whether
    the container has a network (an offline install must not reuse what a connected one downloaded)."""
    identity = {
        "requirements": hashlib.sha256(requirements).hexdigest(),
        "python": platform.python_version(),
        "interpreter": interpreter or sys.executable,
        "network": "none" if isolated else "open",
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _create(root: Path, pth_name: str, pth_lines: list[str]) -> PythonEnv:
    """A venv at `root` (emptied first), whose .pth adds `pth_lines` to sys.path."""
    if root.exists():
        shutil.rmtree(root)
    # In this process: the venv module links the new env to the base interpreter, even when this one is a venv.
    # pip of its own only when the server has none to lend (a venv made without it): ensurepip works offline.
    with_pip = importlib.util.find_spec("pip") is None
    venv.EnvBuilder(with_pip=with_pip, symlinks=os.name != "nt", clear=True).create(root)
    env = PythonEnv(root)
    env.site_packages.mkdir(parents=True, exist_ok=True)
    (env.site_packages / pth_name).write_text("".join(f"{line}\n" for line in pth_lines))
    for name in ("pip", "pip3"):  # the SDK's runproc.sh calls plain `pip`
        wrapper = env.bin_dir / name
        wrapper.write_text(_PIP_WRAPPER)
        wrapper.chmod(0o755)
    return env


def layer(root: Path, base: PythonEnv | None) -> PythonEnv:
    """A fresh venv at `root` that sees `base`'s packages (its own .pth files run, so editable installs and
    namespace packages work), then the image's."""
    if base is None:
        return _create(root, LAYER_PTH, image_site_dirs())
    return _create(root, LAYER_PTH, [f"import site; site.addsitedir({str(base.site_packages)!r})"])


def isolated_pip_variables() -> dict[str, str]:
    """For a container without a network: pip (and what it runs: git, a build backend) gets a proxy that refuses
    every connection, no retries, no download cache, and none of this machine's pip configuration (its mirrors and
    wheel folders are not in the container). Only pip reads these; boto3 keeps failing as it does."""
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_PROXY": NO_NETWORK_PROXY,
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "5",
        "PIP_NO_CACHE_DIR": "1",
    }


def pip_environment(env: PythonEnv, *, isolated: bool) -> dict[str, str]:
    variables = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    if not isolated:
        variables.update({name: os.environ[name] for name in _NETWORK_SETTINGS if name in os.environ})
    variables.update(
        PATH=env.first_on_path(variables.get("PATH")),
        PYTHONUNBUFFERED="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_NO_INPUT="1",
        PIP_ROOT_USER_ACTION="ignore",  # a container runs pip as root; so may this machine
    )
    if isolated:
        variables.update(isolated_pip_variables())
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            variables[name] = NO_NETWORK_PROXY
    return variables


def pip_command(env: PythonEnv) -> list[str]:
    """The training toolkit's command (modules.install_requirements), with this environment's interpreter."""
    return [str(env.python), "-m", "pip", "install", "-r", REQUIREMENTS]


class EnvironmentCache:
    """The cached environments under `folder` (`<emulator home>/python-envs`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def location(self, requirements: Path, *, isolated: bool) -> PythonEnv:
        return PythonEnv(self.folder / environment_key(requirements.read_bytes(), isolated=isolated))

    @staticmethod
    def is_built(env: PythonEnv) -> bool:
        return (env.root / MARKER).is_file()

    def ensure(
        self,
        requirements: Path,
        *,
        isolated: bool,
        on_line: LineSink,
        cancelled: Cancelled = lambda: False,
    ) -> tuple[PythonEnv, bool]:
        """The environment for `requirements` (a requirements.txt in the code folder, which is pip's working
        directory, so relative paths in it work as in the container), and whether this call built it. pip's
        output goes to `on_line`. Raises InstallFailed (nothing is left behind) or BuildCancelled."""
        env = self.location(requirements, isolated=isolated)
        if self.is_built(env):
            return env, False
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(env.root) + ".lock")
        while True:  # a lock that is given up when the job stops, not after a fixed wait
            try:
                lock.acquire(timeout=LOCK_POLL_SECONDS)
                break
            except filelock.Timeout:
                if cancelled():
                    raise BuildCancelled(f"stopped while waiting for another build of {env.root}") from None
        try:
            if self.is_built(env):  # built by another job while this one waited
                return env, False
            self._build(env, requirements, isolated=isolated, on_line=on_line, cancelled=cancelled)
            return env, True
        finally:
            lock.release()

    def _build(
        self, env: PythonEnv, requirements: Path, *, isolated: bool, on_line: LineSink, cancelled: Cancelled
    ) -> None:
        _create(env.root, IMAGE_PTH, image_site_dirs())  # removes what an interrupted build left
        command = pip_command(env)
        try:
            exit_code, tail = _run(
                command, requirements.parent, pip_environment(env, isolated=isolated), on_line, cancelled
            )
        except BaseException:
            shutil.rmtree(env.root, ignore_errors=True)
            raise
        if exit_code != 0:
            shutil.rmtree(env.root, ignore_errors=True)
            raise InstallFailed(exit_code, command, tail)
        record = {
            "requirements": requirements.read_text(errors="replace"),
            "python": platform.python_version(),
            "interpreter": sys.executable,
            "isolated": isolated,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        partial = env.root / f"{MARKER}.partial"
        partial.write_text(json.dumps(record, indent=2) + "\n")
        os.replace(partial, env.root / MARKER)


def _run(
    command: list[str], cwd: Path, env: dict[str, str], on_line: LineSink, cancelled: Cancelled
) -> tuple[int, list[str]]:
    """Run pip, every output line to `on_line`; (exit code, the last lines of its stderr). Killed (with what it
    started) and BuildCancelled raised when `cancelled()` turns true."""
    from mlops_cli.emulator.jobs import process_tree

    tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        close_fds=True,
    )

    def pump(stream: IO[bytes] | None, keep: bool) -> None:
        if stream is None:
            return
        with stream:
            for raw in iter(stream.readline, b""):
                line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                if keep and line.strip():
                    tail.append(line)
                on_line(line)

    readers = [
        threading.Thread(target=pump, args=(process.stdout, False), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, True), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        while process.poll() is None:
            if cancelled():
                raise BuildCancelled(f"stopped while {' '.join(command)} ran")
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            process_tree.kill(process)
        for reader in readers:
            reader.join(timeout=5)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    return process.returncode, list(tail)
