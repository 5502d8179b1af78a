"""Reversible patches of moto's classes. moto is pinned exactly, so naming private attributes is deliberate;
a missing attribute fails loudly at install time rather than silently later."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

_MISSING = object()


class Patch:
    """Set `owner.name` to `build(original)`; `revert()` puts the original back."""

    def __init__(self, owner: type, name: str, build: Callable[[Any], Any]) -> None:
        self.owner = owner
        self.name = name
        self.build = build
        self.original: Any = _MISSING

    @property
    def applied(self) -> bool:
        return self.original is not _MISSING

    def apply(self) -> bool:
        """Patch, unless already patched. Returns whether this call changed anything."""
        if self.applied:
            return False
        # vars(), not getattr(): keep the raw attribute (staticmethod wrapper included) to restore it exactly.
        self.original = vars(self.owner)[self.name]
        setattr(self.owner, self.name, self.build(self.original))
        return True

    def revert(self) -> bool:
        """Put the original back, if patched. Returns whether this call changed anything."""
        if not self.applied:
            return False
        setattr(self.owner, self.name, self.original)
        self.original = _MISSING
        return True

    def __repr__(self) -> str:
        return f"Patch({self.owner.__module__}.{self.owner.__qualname__}.{self.name})"


def replace(owner: type, name: str, value: Any) -> Patch:
    return Patch(owner, name, lambda _original: value)


def complete_result(add: Callable[[Any, dict[str, Any]], None]) -> Callable[[Any], Any]:
    """A `build` for moto response methods that end in `self.serialized(ActionResult(result))`: `add(response,
    result)` fills in what moto leaves out of the result dict before it is serialised."""

    def build(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            serialized = self.serialized

            def serialize_completed(action_result: Any) -> Any:
                if isinstance(action_result.result, dict):
                    add(self, action_result.result)
                return serialized(action_result)

            # An instance attribute: moto builds one response object per request, so no other request sees it.
            self.serialized = serialize_completed
            try:
                return method(self, *args, **kwargs)
            finally:
                del self.serialized

        return wrapper

    return build


class Addition(Patch):
    """Set `owner.name`, which moto lacks, to `build(None)`; `revert()` deletes it again. Applying fails loudly if
    moto has gained the attribute, so a newer moto's own implementation is never hidden by accident."""

    def apply(self) -> bool:
        if self.applied:
            return False
        if self.name in vars(self.owner):
            raise KeyError(f"{self.owner.__qualname__}.{self.name} exists already; patch it instead of adding it")
        self.original = None
        setattr(self.owner, self.name, self.build(None))
        return True

    def revert(self) -> bool:
        if not self.applied:
            return False
        delattr(self.owner, self.name)
        self.original = _MISSING
        return True


def add(owner: type, name: str, value: Any) -> Patch:
    return Addition(owner, name, lambda _nothing: value)
