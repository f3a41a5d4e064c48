"""Deprecation paths for renamed public names: they keep working and warn once per call site."""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from prefect._internal.compatibility.async_dispatch import is_in_async_context

F = TypeVar("F", bound=Callable[..., Any])

# A Google-style docstring section header ("Returns:"), which ends the `Args:` entries.
_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:$")


def warn_renamed(old: str, new: str) -> None:
    """Warn that `old` is a deprecated name of `new`."""
    warnings.warn(
        f"{old} is deprecated and will be removed in a future release; use {new} instead.",
        DeprecationWarning,
        stacklevel=3,
    )


def sync_calls_deprecated(sync_name: str) -> Callable[[F], F]:
    """Keep a method that became async (as Prefect declares it) callable without `await`.

    Awaited, or called where Prefect sees an async context, the method is the coroutine it
    is declared as. Called from sync code (a sync flow or task, a script), it warns and runs
    the sync form `sync_name` instead, so code written for the sync method keeps working.
    """

    def decorate(method: F) -> F:
        @functools.wraps(method)
        def dispatch(self: Any, *args: Any, **kwargs: Any) -> Any:
            if is_in_async_context():
                return method(self, *args, **kwargs)
            warnings.warn(
                f"Calling {method.__name__}() without await is deprecated and will stop "
                f"working in a future release: it is async, as Prefect declares it; use "
                f"{sync_name}() in sync code.",
                DeprecationWarning,
                stacklevel=2,
            )
            return getattr(self, sync_name)(*args, **kwargs)

        return cast(F, dispatch)

    return decorate


def renamed_method(old: str, target: F) -> F:
    """Method `old`, a deprecated name that warns and calls method `target` with the same
    arguments (looked up on the instance, so overrides of `target` are honoured)."""
    new = target.__name__

    def alias(self: Any, *args: Any, **kwargs: Any) -> Any:
        owner = type(self).__name__
        warn_renamed(f"{owner}.{old}", f"{owner}.{new}")
        return getattr(self, new)(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old
    alias.__doc__ = f"Deprecated name of `{new}`."
    return cast(F, alias)


def renamed_params(**renamed: str) -> Callable[[F], F]:
    """Accept deprecated keyword names (`old="new"`) of a task's or flow's parameters.

    Prefect validates task and flow parameters against the signature, so each old name is a
    real keyword parameter of the decorated function, defaulting to None and declared last.
    A call that gives an old name warns (`DeprecationWarning`) and runs with the value under
    the new name; giving both (the new one changed from its default) is a `TypeError` naming
    both. The async form made by `_params.async_form_of` applies the same renames
    (`rename_params`). An `Args:` line "Deprecated name of `new`." is added for each old name
    the docstring does not describe, at the end, out of the way of the current parameters.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)
        defaults = {new: signature.parameters[new].default for new in renamed.values()}
        missing = [old for old in renamed if old not in signature.parameters]
        if missing:
            raise TypeError(f"{fn.__name__} declares no parameter {', '.join(missing)}.")

        def rename(params: Mapping[str, Any]) -> dict[str, Any]:
            current = dict(params)
            for old, new in renamed.items():
                value = current.get(old)
                if value is None:
                    continue
                if current.get(new, defaults[new]) != defaults[new]:
                    raise TypeError(
                        f"{fn.__name__}() got both {new} and its deprecated name {old}; "
                        f"pass only {new}."
                    )
                warn_renamed(f"{fn.__name__}({old}=...)", f"{new}=...")
                current[new], current[old] = value, None
            return current

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return fn(**rename(bound.arguments))

        call.rename_params = rename  # type: ignore[attr-defined]
        call.__doc__ = _with_alias_docs(fn.__doc__, renamed)
        return cast(F, call)

    return decorate


def rename_params(model: Callable[..., Any]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """The renames `renamed_params` declared on `model` (a plain copy when it declared none)."""
    return cast(
        Callable[[Mapping[str, Any]], dict[str, Any]], getattr(model, "rename_params", dict)
    )


def _with_alias_docs(doc: str | None, renamed: Mapping[str, str]) -> str | None:
    if not doc:
        return doc
    lines = inspect.cleandoc(doc).splitlines()
    if "Args:" not in lines:
        return doc
    end = lines.index("Args:") + 1
    while end < len(lines) and not _SECTION.match(lines[end]):
        end += 1
    while lines[end - 1].strip() == "":
        end -= 1
    added = [
        f"    {old}: Deprecated name of `{new}`."
        for old, new in renamed.items()
        if not any(line.startswith(f"    {old}:") for line in lines)
    ]
    return "\n".join([*lines[:end], *added, *lines[end:]]) + "\n"


def renamed_fields(data: Any, renamed: Mapping[str, str], owner: str) -> Any:
    """`data` (keyword options or a block's fields) with deprecated keys moved to their new
    names, warning for each; both names given is a `TypeError`. Anything but a mapping is
    returned as it is (pydantic validates it)."""
    if not isinstance(data, Mapping) or renamed.keys().isdisjoint(data):
        return data
    current = dict(data)
    for old, new in renamed.items():
        if old not in current:
            continue
        if new in current:
            raise TypeError(
                f"{owner} got both {new} and its deprecated name {old}; pass only {new}."
            )
        warn_renamed(f"{owner}({old}=...)", f"{new}=...")
        current[new] = current.pop(old)
    return current
