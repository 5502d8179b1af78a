"""The package as users install it: a wheel built from this checkout, installed into fresh virtual environments
with pip, run from a folder that is not the checkout.

- with the `[local]` extra, `mlops pipeline run` runs the whole churn chain on the emulator: the container scripts
  and the proxy function come from the installed package, not from the source tree;
- without it (an AWS-only install), `mlops` works and a command that needs the emulator says what to install.

Slow: each venv installs the dependencies from the package index (about a minute with the extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("source") / "mlops"
    # from a copy holding only what git tracks: a wheel must not depend on files lying around in a checkout
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in tracked.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)])
    (built,) = out.glob("mlops_cli-*.whl")
    return built


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload]
    assert result.returncode == 0, (
        f"{command} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


def fresh_venv(folder: Path, requirement: str) -> Path:
    venv.EnvBuilder(with_pip=True).create(folder)
    python = folder / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", requirement])
    return folder / "bin" / "mlops"


def project_copy(tmp_path: Path) -> Path:
    """What a user has: their configs and data, no source tree."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "configs", project / "configs")
    shutil.copytree(ROOT / "data", project / "data", ignore=shutil.ignore_patterns("generate.py", "examples"))
    return project


def test_an_installed_wheel_with_the_local_extra_runs_the_whole_chain(wheel: Path, tmp_path: Path) -> None:
    mlops = fresh_venv(tmp_path / "venv", f"{wheel}[local]")
    project = project_copy(tmp_path)
    env = {**os.environ, "MLOPS_EMULATOR_HOME": str(tmp_path / "emulator")}
    env.pop("PYTHONPATH", None)
    try:
        result = run([str(mlops), "pipeline", "run", "-c", "configs/local.yaml", "--json"], cwd=project, env=env)
        assert '"smoke"' in result.stdout
        installed = run(  # from the project folder: `python -c` puts the working folder first on sys.path
            [str(tmp_path / "venv" / "bin" / "python"), "-c", "import mlops_cli; print(mlops_cli.__file__)"],
            cwd=project,
        )
        assert str(tmp_path / "venv") in installed.stdout  # the package ran from the venv, not from this checkout
    finally:
        subprocess.run([str(mlops), "local", "down"], cwd=project, env=env, capture_output=True)


def test_without_the_extra_mlops_works_and_the_emulator_says_what_to_install(wheel: Path, tmp_path: Path) -> None:
    mlops = fresh_venv(tmp_path / "venv", str(wheel))
    project = project_copy(tmp_path)
    env = {**os.environ, "MLOPS_EMULATOR_HOME": str(tmp_path / "emulator")}
    env.pop("PYTHONPATH", None)
    assert "pipeline" in run([str(mlops), "--help"], cwd=project, env=env).stdout
    run([str(mlops), "config", "validate", "-c", "configs/dev.yaml"], cwd=project, env=env)
    result = subprocess.run(
        [str(mlops), "storage", "status", "-c", "configs/local.yaml"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "pip install 'mlops-cli[local]'" in result.stderr
    assert "Traceback" not in result.stderr
