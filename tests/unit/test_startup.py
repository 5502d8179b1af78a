"""`mlops --help` and `mlops config validate` stay fast: no boto3, pandas or scikit-learn on their import path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("boto3", "botocore", "pandas", "sklearn", "moto")

PROBE = """
import sys
sys.argv = ["mlops", *sys.argv[1:]]
from mlops_cli.main import app
try:
    app()
except SystemExit as exc:
    code = exc.code
heavy = [m for m in {heavy!r} if m in sys.modules]
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["storage", "--help"], ["config", "validate", "-c", "configs/local.yaml"], ["--version"]],
)
def test_light_commands_import_no_heavy_module(argv: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *argv], cwd=ROOT, capture_output=True, text=True
    )
    assert "HEAVY=\n" in result.stderr, result.stderr
