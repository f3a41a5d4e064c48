"""Lazy exports (PEP 562) of a package from one table: ``__all__``, ``__getattr__``, ``__dir__``.

Every package of the distribution is imported by processes that rarely use most of it (a DAG file
parsed every few seconds, the pytest plugin loaded by every test run), so each one defines its
public names here and imports a name's module only when the name is first read.

A package installs it with::

    _LAZY: dict[str, str] = {"Run": "cyberdesk_core.models", ...}
    _EXPORTS = LazyExports(__name__, _LAZY, eager=["__version__"])
    __all__ = _EXPORTS.names
    __getattr__ = _EXPORTS.load
    __dir__ = _EXPORTS.listing

Type checkers do not run ``__getattr__``: the package also imports the lazy names under
``if TYPE_CHECKING:`` as ``from module import Name as Name`` (an explicit re-export), and a test
checks that those imports and the table agree.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["LazyExports"]


class LazyExports:
    """The public names of one package: ``eager`` ones it defines, the others loaded on first use.

    :param package: ``__name__`` of the package.
    :param lazy: Each lazily loaded name and the module that defines it (absolute, or relative
        to ``package`` with a leading dot).
    :param eager: Public names the package defines or imports itself.
    """

    def __init__(self, package: str, lazy: Mapping[str, str], *, eager: Iterable[str] = ()) -> None:
        self.package = package
        self.lazy = dict(lazy)
        self.eager = tuple(eager)
        both = sorted(set(self.lazy) & set(self.eager))
        if both:
            raise ValueError(f"{package}: names both eager and lazy: {both}")
        self.names = sorted([*self.lazy, *self.eager])

    def load(self, name: str) -> Any:
        """Module ``__getattr__``: import the module of ``name`` and return the attribute."""
        module = self.lazy.get(name)
        if module is None:
            raise AttributeError(f"module {self.package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, self.package), name)
        # Kept in the package so later reads are plain attribute lookups.
        setattr(sys.modules[self.package], name, value)
        return value

    def listing(self) -> list[str]:
        """Module ``__dir__``: the public names."""
        return list(self.names)
