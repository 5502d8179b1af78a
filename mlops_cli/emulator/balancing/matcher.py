"""A target group's Matcher.HttpCode: the HTTP codes a health check must answer with to pass ("200", "200-299",
"200,204", "200-299,404")."""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT = "200"
_PART = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$")


@dataclass(frozen=True)
class Matcher:
    text: str
    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, text: str | None) -> Matcher:
        """Raises ValueError for anything but comma-separated codes and low-high ranges."""
        source = DEFAULT if text is None or not str(text).strip() else str(text)
        ranges = []
        for part in source.split(","):
            match = _PART.match(part)
            if match is None:
                raise ValueError(f"HttpCode {source!r}: {part.strip()!r} is neither a code nor a range like 200-299")
            low = int(match.group(1))
            high = int(match.group(2) or low)
            if high < low:
                raise ValueError(f"HttpCode {source!r}: the range {low}-{high} is empty")
            ranges.append((low, high))
        return cls(source, tuple(ranges))

    def matches(self, code: int) -> bool:
        return any(low <= code <= high for low, high in self.ranges)


def from_target_group(matcher: dict[str, str] | None) -> Matcher:
    """The matcher of a target group as moto stores it (`{"HttpCode": ...}`); a GrpcCode matcher is not emulated,
    so it falls back to the default HTTP 200."""
    return Matcher.parse((matcher or {}).get("HttpCode"))
