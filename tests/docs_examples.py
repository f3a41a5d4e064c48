"""The Python blocks of README.md and docs/*.md, each with the marker that says how it is tested.

Every ```python block carries a marker on the line right before its fence::

    <!-- example: KIND -->                 or   <!-- example: KIND setup=NAME -->

KIND is ``run-ENGINE`` (executed against the emulator), ``dag-airflow`` (loaded by a DagBag and
must define a DAG) or ``compile-ENGINE`` (compiled and type-checked only), where ENGINE is
``core``, ``airflow`` or ``prefect`` and names the environment that checks it (core blocks are
checked in the Airflow environment, as tests/core runs there). Every block is type-checked with
``mypy --strict``. A fragment (names defined by the surrounding prose) names a SETUP below: its
lines become the body of an async function whose parameters declare those names.
An unmarked block or an unknown kind or setup fails the tests, so no new block goes unchecked.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
ENGINES = ("core", "airflow", "prefect")
KINDS = frozenset(
    {f"run-{engine}" for engine in ENGINES}
    | {f"compile-{engine}" for engine in ENGINES}
    | {"dag-airflow"}
)
_MARKER = re.compile(r"^<!-- example: (?P<kind>[\w-]+)(?: setup=(?P<setup>[\w-]+))? -->$")

_CORE_IMPORTS = """\
import asyncio
import logging
from datetime import datetime

from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient, RunReport
from cyberdesk_core.models import Run
from cyberdesk_core.waiting import RunWatcher
"""

#: Fragment setups: imports, then the signature whose parameters declare the block's free names.
SETUPS: dict[str, str] = {
    "client": _CORE_IMPORTS
    + "async def example(client: CyberdeskClient, run_id: str, machine_id: str, run: Run,"
    " log: logging.Logger, reports: list[RunReport]) -> None:\n",
    "watcher": _CORE_IMPORTS
    + "async def example(aclient: AsyncCyberdeskClient, wf: str, created: list[Run]) -> None:\n",
    "narrator": _CORE_IMPORTS
    + "async def example(log: logging.Logger, sensitive_input_values: dict[str, str],"
    " watcher: RunWatcher, run_id: str, wf: str, created: datetime) -> None:\n",
    "operator": "def example(WF: str, months: list[str]) -> None:\n"
    "    from cyberdesk_airflow.operators import CyberdeskRunOperator\n",
}


@dataclass(frozen=True)
class Example:
    """One ```python block of the docs."""

    path: str  # relative to the project root
    line: int  # of the opening fence
    kind: str
    setup: str | None
    code: str

    @property
    def engine(self) -> str:
        """The environment that checks the block."""
        return self.kind.split("-", 1)[1]

    @property
    def mode(self) -> str:
        """``run``, ``dag`` or ``compile``."""
        return self.kind.split("-", 1)[0]

    @property
    def name(self) -> str:
        """A stable id, e.g. ``docs/prefect.md:17``."""
        return f"{self.path}:{self.line}"

    @property
    def module_name(self) -> str:
        """A module name for the block's file."""
        stem = re.sub(r"\W", "_", Path(self.path).stem.lower())
        return f"docs_{stem}_{self.line}"

    def module_source(self) -> str:
        """The block as a module: as written, or wrapped in its setup."""
        if self.setup is None:
            return self.code
        return SETUPS[self.setup] + textwrap.indent(self.code, "    ")


def docs_files(root: Path = ROOT) -> list[Path]:
    """README.md and every docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def parse_examples(root: Path = ROOT) -> tuple[list[Example], list[str]]:
    """Every python block, and a problem line per block without a valid marker."""
    examples: list[Example] = []
    problems: list[str] = []
    for path in docs_files(root):
        rel = path.relative_to(root).as_posix()
        lines = path.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            if not lines[index].startswith("```python"):
                index += 1
                continue
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            where = f"{rel}:{index + 1}"
            match = _MARKER.match(lines[index - 1].strip()) if index else None
            if match is None:
                problems.append(f"{where}: no `<!-- example: KIND -->` line before the block")
            elif match["kind"] not in KINDS:
                problems.append(f"{where}: unknown kind {match['kind']!r}")
            elif match["setup"] is not None and match["setup"] not in SETUPS:
                problems.append(f"{where}: unknown setup {match['setup']!r}")
            else:
                code = "\n".join(lines[index + 1 : end]) + "\n"
                examples.append(Example(rel, index + 1, match["kind"], match["setup"], code))
            index = end + 1
    return examples, problems


def examples_for(engine: str) -> list[Example]:
    """The blocks the environment of ``engine`` checks (core blocks go with airflow)."""
    examples, _ = parse_examples()
    engines = {engine, "core"} if engine == "airflow" else {engine}
    return [example for example in examples if example.engine in engines]


def _ini_value(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _strict_config(folder: Path, modules: list[str]) -> Path:
    """The project's mypy config plus ``strict`` for the blocks' modules. Strict only for them
    (not ``--strict``) leaves every other module's options as in ``make typecheck``, so mypy's
    cache from that run stays valid and the check takes seconds."""
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    overrides = [*mypy.pop("overrides", []), {"module": modules, "strict": True}]
    lines = ["[mypy]", *(f"{key} = {_ini_value(value)}" for key, value in mypy.items())]
    for override in overrides:
        lines.append(f"[mypy-{_ini_value(override.pop('module'))}]")
        lines.extend(f"{key} = {_ini_value(value)}" for key, value in override.items())
    target = folder / "mypy.ini"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


# Engine typing gaps mypy cannot see through, as the example DAGs meet them too: at DAG-definition
# time TaskFlow calls receive XComArgs; Prefect's sync/async dual methods (`Block.load`,
# `Flow.from_source`) are typed "value | Coroutine" but return the value outside an event loop.
ENGINE_TYPING_GAPS = ('incompatible type "XComArg"', "| Coroutine[Any, Any,")


def in_oldest_release_env() -> bool:
    """True in an environment pinning an engine's oldest supported line (``.venvs/*-oldest``)."""
    return Path(sys.prefix).name.endswith("-oldest")


def type_errors(examples: list[Example], folder: Path) -> tuple[list[str], str]:
    """``mypy --strict`` (with the project's config) over the blocks, in one run: the error
    lines (without the engine typing gaps) and the whole output."""
    files = []
    for example in examples:
        target = folder / f"{example.module_name}.py"
        target.write_text(example.module_source(), encoding="utf-8")
        files.append(str(target))
    config = _strict_config(folder, [example.module_name for example in examples])
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), *files],
        capture_output=True,
        text=True,
        cwd=ROOT,  # the checkout's packages come first on mypy's path
        check=False,
    )
    output = result.stdout + result.stderr
    errors = [
        line
        for line in output.splitlines()
        if ": error:" in line and not any(gap in line for gap in ENGINE_TYPING_GAPS)
    ]
    checked = result.returncode == 0 or (result.returncode == 1 and ": error:" in output)
    if not checked:  # mypy itself failed (not installed, bad config, crash)
        errors.append(f"mypy exited with {result.returncode}")
    return errors, output
