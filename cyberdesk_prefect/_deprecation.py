"""Deprecation paths for renamed public names: they keep working and warn once per call site."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any, TypeVar, cast

from prefect._internal.compatibility.async_dispatch import is_in_async_context

F = TypeVar("F", bound=Callable[..., Any])


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
