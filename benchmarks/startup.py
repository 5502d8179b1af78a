"""Start-up time of the CLI, against `python -c "import boto3"` measured in the same run.

`mlops --help` must not import boto3, pandas or scikit-learn (DESIGN.md, principle 7); this shows what that buys.
Run with `make bench`. Prints a Markdown table (median of N runs, and the ratio to the boto3 import)."""

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


def timed(command: list[str], runs: int) -> float:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)  # warm the file cache
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


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
    results = [(name, timed(command, args.runs)) for name, command in cases]
    baseline = results[0][1]
    print(f"Start-up, median of {args.runs} runs, Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    print("| command | median | vs import boto3 |")
    print("|---|---:|---:|")
    for name, seconds in results:
        print(f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / baseline:.2f}x |")


if __name__ == "__main__":
    main()
