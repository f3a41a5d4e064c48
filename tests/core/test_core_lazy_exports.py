"""LazyExports, and that every lazily exporting module declares each public name consistently.

The consistency check reads the modules' source (no import), so it covers the Airflow and
Prefect packages without either engine installed.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from cyberdesk_core._lazy import LazyExports

ROOT = Path(__file__).resolve().parents[2]

#: Every module that installs LazyExports, as (module name, source file).
LAZY_MODULES = [
    ("cyberdesk_core", "cyberdesk_core/__init__.py"),
    ("cyberdesk_emulator", "cyberdesk_emulator/__init__.py"),
    ("cyberdesk_prefect", "cyberdesk_prefect/__init__.py"),
    ("cyberdesk_airflow.operators", "cyberdesk_airflow/operators/__init__.py"),
    ("cyberdesk_airflow._compat", "cyberdesk_airflow/_compat.py"),
]


def _resolve(module: str, package: str) -> str:
    return importlib.util.resolve_name(module, package) if module.startswith(".") else module


class Declarations:
    """What one module's source declares: type-checking imports, the table, eager names."""

    def __init__(self, package: str, source: str) -> None:
        tree = ast.parse(source)
        self.type_checking: dict[str, str] = {}
        self.lazy: dict[str, str] = {}
        self.eager: list[str] = []
        self.literal_all: list[str] | None = None
        self.installs = False
        for node in tree.body:
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
                for imported in _imports(node.body):
                    self.type_checking[imported.asname or imported.name] = imported.module
            elif isinstance(node, ast.AnnAssign | ast.Assign):
                target = node.target if isinstance(node, ast.AnnAssign) else node.targets[0]
                value = node.value
                if not isinstance(target, ast.Name) or value is None:
                    continue
                if target.id == "_LAZY":
                    table = ast.literal_eval(value)
                    self.lazy = {key: _resolve(module, package) for key, module in table.items()}
                elif target.id == "__all__" and isinstance(value, ast.List):
                    self.literal_all = ast.literal_eval(value)
                elif isinstance(value, ast.Call) and ast.unparse(value.func) == "LazyExports":
                    self.installs = True
                    for keyword in value.keywords:
                        if keyword.arg == "eager":
                            self.eager = ast.literal_eval(keyword.value)


class _Imported:
    def __init__(self, module: str, name: str, asname: str | None) -> None:
        self.module, self.name, self.asname = module, name, asname


def _imports(body: list[ast.stmt]) -> Iterator[_Imported]:
    for statement in body:
        assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
        assert statement.module is not None
        for alias in statement.names:
            yield _Imported(statement.module, alias.name, alias.asname)


@pytest.mark.parametrize(("name", "path"), LAZY_MODULES, ids=[m for m, _ in LAZY_MODULES])
def test_type_checking_imports_table_and_all_agree(name: str, path: str) -> None:
    declared = Declarations(name, (ROOT / path).read_text())
    assert declared.installs, f"{path} does not install LazyExports"
    assert declared.lazy, f"{path} has no _LAZY table"
    # Type checkers see each lazy name from the module the table loads it from.
    for export, module in declared.lazy.items():
        assert declared.type_checking.get(export) == module, (path, export)
    # Anything else imported for type checkers is defined eagerly at run time.
    extra = set(declared.type_checking) - set(declared.lazy)
    assert extra <= set(declared.eager), (path, sorted(extra - set(declared.eager)))
    if declared.literal_all is not None:
        assert sorted(declared.literal_all) == sorted([*declared.lazy, *declared.eager])


def test_lazy_modules_list_is_complete() -> None:
    installing = {
        path.relative_to(ROOT).as_posix()
        for package in (
            "cyberdesk_core",
            "cyberdesk_emulator",
            "cyberdesk_prefect",
            "cyberdesk_airflow",
        )
        for path in (ROOT / package).rglob("*.py")
        if "LazyExports(" in path.read_text() and path.name != "_lazy.py"
    }
    assert installing == {path for _, path in LAZY_MODULES}


@pytest.mark.parametrize("name", ["cyberdesk_core", "cyberdesk_emulator"])
def test_exports_of_engine_free_packages_resolve(name: str) -> None:
    module = importlib.import_module(name)
    exports: LazyExports = module._EXPORTS
    assert module.__all__ == exports.names == sorted([*exports.lazy, *exports.eager])
    assert dir(module) == module.__all__
    for export in module.__all__:
        assert getattr(module, export) is not None


@pytest.fixture
def fake_package(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    package = types.ModuleType("fake_pkg")
    package.__path__ = []
    monkeypatch.setitem(sys.modules, "fake_pkg", package)
    submodule = types.ModuleType("fake_pkg.things")
    submodule.Thing = object()  # type: ignore[attr-defined]
    submodule.other = 42  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_pkg.things", submodule)
    return package


def test_load_imports_on_first_read_and_keeps_the_value(fake_package: types.ModuleType) -> None:
    exports = LazyExports("fake_pkg", {"Thing": ".things", "other": "fake_pkg.things"})
    thing = sys.modules["fake_pkg.things"].Thing
    assert "Thing" not in vars(fake_package)
    assert exports.load("Thing") is thing
    assert vars(fake_package)["Thing"] is thing
    assert exports.load("other") == 42


def test_unknown_name_is_an_attribute_error(fake_package: types.ModuleType) -> None:
    exports = LazyExports("fake_pkg", {"Thing": ".things"})
    with pytest.raises(AttributeError, match=r"'fake_pkg' has no attribute 'Missing'"):
        exports.load("Missing")


def test_names_and_listing_cover_eager_and_lazy_names() -> None:
    exports = LazyExports("fake_pkg", {"b": ".x", "a": ".y"}, eager=["C"])
    assert exports.names == ["C", "a", "b"]
    assert exports.listing() == ["C", "a", "b"]


def test_a_name_cannot_be_both_eager_and_lazy() -> None:
    with pytest.raises(ValueError, match="both eager and lazy"):
        LazyExports("fake_pkg", {"a": ".x"}, eager=["a"])
