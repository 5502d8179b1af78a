"""The emulator's Python environments for user requirements.txt: one per requirements file (built once, under a
lock), nothing left by a failed or interrupted build, pins that override the image's packages without touching
the server's own venv, and no network for an isolated container. Everything installs from wheels the tests write,
offline."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_cli.emulator import python_envs
from mlops_cli.emulator.python_envs import EnvironmentCache, PythonEnv

PROBE = "mlops_pin_probe"


def build_wheel(folder: Path, name: str = PROBE, version: str = "1.0.0") -> Path:
    """A pure-Python wheel, written by hand: `import <name>` gives a module whose VERSION is `version`."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n__version__ = VERSION\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: mlops-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, text in files.items():
            wheel.writestr(member, text)
        wheel.writestr(f"{info}/RECORD", "".join(f"{member},,\n" for member in [*files, f"{info}/RECORD"]))
    return path


def offline_requirements(code: Path, *pins: str) -> Path:
    """code/requirements.txt installing `pins` from code/wheels only, as a bundle for an isolated job would."""
    code.mkdir(parents=True, exist_ok=True)
    path = code / "requirements.txt"
    path.write_text("--no-index\n--find-links wheels\n" + "".join(f"{pin}\n" for pin in pins))
    return path


def run_python(env: PythonEnv, code: str) -> str:
    result = subprocess.run([str(env.python), "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def server_site_packages() -> dict[str, float]:
    """Every entry of the server venv's site-packages with its modification time."""
    listing = {}
    for folder in python_envs.image_site_dirs():
        for entry in Path(folder).iterdir():
            listing[str(entry)] = entry.stat().st_mtime
    return listing


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    build_wheel(folder / "wheels")
    return folder


def test_same_requirements_give_one_environment_built_once(tmp_path: Path, code: Path) -> None:
    requirements = offline_requirements(code, f"{PROBE}==1.0.0")
    cache = EnvironmentCache(tmp_path / "python-envs")
    lines: list[str] = []
    env, built = cache.ensure(requirements, isolated=False, on_line=lines.append)
    assert built
    assert any(f"Successfully installed {PROBE}-1.0.0" in line for line in lines), lines  # pip's own output
    assert run_python(env, f"import {PROBE}; print({PROBE}.VERSION)") == "1.0.0"

    # The same content elsewhere (another job's code folder), from another cache object: the same environment.
    other = tmp_path / "other-job" / "code"
    build_wheel(other / "wheels")
    again, built_again = EnvironmentCache(tmp_path / "python-envs").ensure(
        offline_requirements(other, f"{PROBE}==1.0.0"), isolated=False, on_line=lines.append
    )
    assert (again, built_again) == (env, False)
    # Another content, or the same content for a container without a network, is another environment.
    assert cache.location(offline_requirements(tmp_path / "c2", f"{PROBE}==1.0.1"), isolated=False) != env
    assert cache.location(requirements, isolated=True) != env


def test_the_environment_has_the_image_packages_and_a_pin_overrides_them_without_touching_the_server(
    tmp_path: Path, code: Path
) -> None:
    # filelock is one of the server's own packages: a pin of another version must win in the environment only.
    server_version = importlib.metadata.version("filelock")
    build_wheel(code / "wheels", "filelock", "0.0.1")
    before = server_site_packages()
    env, _ = EnvironmentCache(tmp_path / "envs").ensure(
        offline_requirements(code, f"{PROBE}==1.0.0", "filelock==0.0.1"), isolated=True, on_line=lambda _line: None
    )
    shown = run_python(env, "import filelock, sklearn, pandas; print(filelock.__version__, sklearn.__name__)")
    assert shown == "0.0.1 sklearn"
    assert server_site_packages() == before
    assert importlib.metadata.version("filelock") == server_version
    # and the server's interpreter is not the environment's
    assert Path(sys.executable) != env.python


def test_a_failing_install_raises_pips_error_and_leaves_nothing(tmp_path: Path, code: Path) -> None:
    cache = EnvironmentCache(tmp_path / "envs")
    requirements = offline_requirements(code, f"{PROBE}==2.0.0")  # only 1.0.0 is in wheels/
    lines: list[str] = []
    with pytest.raises(python_envs.InstallFailed) as failed:
        cache.ensure(requirements, isolated=False, on_line=lines.append)
    assert failed.value.exit_code != 0
    assert failed.value.command[1:] == ["-m", "pip", "install", "-r", "requirements.txt"]
    assert f"No matching distribution found for {PROBE}==2.0.0" in failed.value.message
    assert any("No matching distribution" in line for line in lines)  # pip's stderr reached the log too
    assert not cache.location(requirements, isolated=False).root.exists()


def test_an_interrupted_build_leaves_nothing_and_the_next_build_starts_over(tmp_path: Path, code: Path) -> None:
    cache = EnvironmentCache(tmp_path / "envs")
    requirements = offline_requirements(code, f"{PROBE}==1.0.0")
    with pytest.raises(python_envs.BuildCancelled):
        cache.ensure(requirements, isolated=False, on_line=lambda _line: None, cancelled=lambda: True)
    env = cache.location(requirements, isolated=False)
    assert not env.root.exists()
    # What an emulator killed in the middle of a build leaves: a venv without the marker. It is not used.
    (env.root / "bin").mkdir(parents=True)
    (env.root / "bin" / "python3").write_text("not an interpreter")
    assert not cache.is_built(env)
    rebuilt, built = cache.ensure(requirements, isolated=False, on_line=lambda _line: None)
    assert built and rebuilt == env
    assert run_python(env, f"import {PROBE}; print({PROBE}.VERSION)") == "1.0.0"


def test_two_jobs_asking_at_once_share_one_build(tmp_path: Path, code: Path) -> None:
    requirements = offline_requirements(code, f"{PROBE}==1.0.0")
    results: list[tuple[PythonEnv, bool]] = []

    def ask() -> None:
        results.append(EnvironmentCache(tmp_path / "envs").ensure(requirements, isolated=False, on_line=print))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(built for _env, built in results) == [False, True]
    assert results[0][0] == results[1][0]


@pytest.fixture
def wheel_server(code: Path) -> Iterator[str]:
    """code/wheels served over HTTP on loopback: a package index the container can reach only with a network."""
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(code / "wheels"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_an_isolated_container_has_no_network_for_pip(tmp_path: Path, code: Path, wheel_server: str) -> None:
    cache = EnvironmentCache(tmp_path / "envs")
    requirements = code / "requirements.txt"
    requirements.write_text(f"--no-index\n--find-links {wheel_server}\n{PROBE}==1.0.0\n")
    with pytest.raises(python_envs.InstallFailed) as failed:
        cache.ensure(requirements, isolated=True, on_line=lambda _line: None)
    assert f"No matching distribution found for {PROBE}==1.0.0" in failed.value.message
    assert not cache.location(requirements, isolated=True).root.exists()
    # The same requirements with a network: pip downloads the wheel.
    env, built = cache.ensure(requirements, isolated=False, on_line=lambda _line: None)
    assert built
    assert run_python(env, f"import {PROBE}; print({PROBE}.VERSION)") == "1.0.0"
    # Offline, what the bundle itself carries installs, even next to an index pip cannot reach.
    requirements.write_text(f"--find-links wheels\n{PROBE}==1.0.0\n")
    env, built = cache.ensure(requirements, isolated=True, on_line=lambda _line: None)
    assert built
    assert run_python(env, f"import {PROBE}; print({PROBE}.VERSION)") == "1.0.0"


def test_a_layer_takes_what_the_job_installs_and_the_cached_environment_stays_as_built(
    tmp_path: Path, code: Path
) -> None:
    env, _ = EnvironmentCache(tmp_path / "envs").ensure(
        offline_requirements(code, f"{PROBE}==1.0.0"), isolated=True, on_line=lambda _line: None
    )
    build_wheel(code / "wheels", version="1.0.1")
    host = python_envs.layer(tmp_path / "job" / "algo-1" / "python-env", env)
    # runproc.sh's own `pip install` (plain `pip`, first on PATH) and then its `python3`
    script = f"pip install --no-index --find-links wheels {PROBE}==1.0.1 && python3 -c 'import {PROBE}; print({PROBE}.VERSION)'"
    environment = python_envs.pip_environment(host, isolated=True)
    result = subprocess.run(
        ["/bin/sh", "-c", script], cwd=code, env=environment, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1.0.1"
    assert run_python(env, f"import {PROBE}; print({PROBE}.VERSION)") == "1.0.0"
    # A layer on the image alone (no requirements) sees the image's packages.
    bare = python_envs.layer(tmp_path / "job" / "algo-2" / "python-env", None)
    assert run_python(bare, "import sklearn, pandas; print('ok')") == "ok"
