"""Where the emulator keeps its state file, log and work folders."""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "MLOPS_EMULATOR_HOME"


def state_dir() -> Path:
    """$MLOPS_EMULATOR_HOME if set (tests, several emulators side by side), else the user's cache folder."""
    if home := os.environ.get(HOME_ENV):
        return Path(home).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir("mlops")) / "emulator"


def state_file() -> Path:
    return state_dir() / "state.json"


def log_path() -> Path:
    return state_dir() / "emulator.log"


def work_dir() -> Path:
    """Per-job work folders (processing and training jobs, endpoints) live under here."""
    return state_dir() / "work"


def lock_path() -> Path:
    return state_dir() / "manager.lock"
