"""Mask values whose key names a secret, so `config show` never prints one."""

from __future__ import annotations

import re
from typing import Any

_SECRET_KEY = re.compile(r"(secret|password|passwd|token|api_key_value|private_key|credential)", re.IGNORECASE)
MASK = "********"


def is_secret(key: str) -> bool:
    """Whether a setting of this name holds a secret: its value is never printed, not even in an error."""
    return bool(_SECRET_KEY.search(key))


def masked(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: masked(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, key) for v in value]
    if value not in (None, "") and is_secret(key):
        return MASK
    return value
