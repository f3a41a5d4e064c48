"""Parameter docs where Prefect reads them: the `Args:` section of a task's docstring.

Prefect turns a task's Google-style `Args:` entries into the descriptions of its parameter
schema (the deployment form in the UI). A task that combines others (`run_cyberdesk_workflow`
is trigger + wait) takes the entries of the tasks it combines with `args_from`, so every
parameter is described, and described once.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_SECTION = re.compile(r"^[A-Z][A-Za-z ]*:$")
_ENTRY = re.compile(r"^    (\*{0,2}\w+)(?: \([^)]*\))?:")


def _split(doc: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """Lines before `Args:`, the entries (name -> lines), lines from the next section on."""
    lines = inspect.cleandoc(doc).splitlines()
    if "Args:" not in lines:
        return lines, {}, []
    start = lines.index("Args:")
    entries: dict[str, list[str]] = {}
    current: list[str] = []
    end = len(lines)
    for index in range(start + 1, len(lines)):
        line = lines[index]
        if _SECTION.match(line):
            end = index
            break
        entry = _ENTRY.match(line)
        if entry:
            current = entries.setdefault(entry.group(1), [])
        if line.strip():
            current.append(line)
    return lines[:start], entries, lines[end:]


def args_from(*models: Callable[..., Any]) -> Callable[[F], F]:
    """Complete the decorated function's `Args:` with the entries of `models`.

    Every parameter of the function gets its own entry if it has one, else the first entry
    found in `models`, in the order of the signature.
    """

    def decorate(fn: F) -> F:
        head, own, tail = _split(fn.__doc__ or "")
        borrowed: dict[str, list[str]] = {}
        for model in models:
            for name, entry in _split(model.__doc__ or "")[1].items():
                borrowed.setdefault(name, entry)
        args = [
            line
            for name in inspect.signature(fn).parameters
            for line in own.get(name) or borrowed.get(name, [])
        ]
        before = head[:-1] if head and not head[-1].strip() else head
        fn.__doc__ = "\n".join([*before, "", "Args:", *args, "", *tail]).strip() + "\n"
        return fn

    return decorate
