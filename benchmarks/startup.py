"""Start-up time of the CLI, against `python -c "import boto3"` measured in the same run.

`mlops --help` must not import boto3, pandas or scikit-learn (DESIGN.md, principle 7); this shows what that buys.
Run with `make bench`. Prints a Markdown table: the median time of each command and its ratio to the boto3
import, round by round (median, min-max)."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def elapsed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
    return time.perf_counter() - start


def rounds(commands: list[list[str]], runs: int) -> list[list[float]]:
    """Each round runs every command once, in turn, so a drift of the machine's speed touches all of them alike;
    one warm-up round fills the file cache first."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    for command in commands:
        elapsed(command, env)
    return [[elapsed(command, env) for command in commands] for _ in range(runs)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    mlops = str(BIN / "mlops")
    cases = [
        ('python -c "import boto3" (baseline)', [sys.executable, "-c", "import boto3"]),
        ('python -c "pass"', [sys.executable, "-c", "pass"]),
        ("mlops --help", [mlops, "--help"]),
        ("mlops config validate -c configs/local.yaml", [mlops, "config", "validate", "-c", "configs/local.yaml"]),
    ]
    samples = rounds([command for _, command in cases], args.runs)
    print(f"Start-up, {args.runs} alternating rounds, Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("| command | median | vs import boto3: median (min-max of the rounds) |")
    print("|---|---:|---:|")
    for index, (name, _) in enumerate(cases):
        seconds = statistics.median(row[index] for row in samples)
        ratios = [row[index] / row[0] for row in samples]
        spread = f"{statistics.median(ratios):.2f}x ({min(ratios):.2f} to {max(ratios):.2f})"
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {spread} |")


if __name__ == "__main__":
    main()
