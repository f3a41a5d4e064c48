"""The README/docs Python blocks the Airflow environment checks (markers: tests/docs_examples.py).

Every airflow and core block is type-checked; ``dag-airflow`` blocks are parsed by a DagBag and
must define a DAG without import errors; ``run-airflow`` and ``run-core`` blocks are executed as
written, with ``CYBERDESK_API_KEY`` / ``CYBERDESK_BASE_URL`` pointing at the suite's emulator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from docs_examples import Example, examples_for, parse_examples, type_errors

from cyberdesk_emulator import EmulatorServer

EXAMPLES = examples_for("airflow")
DAG_BLOCKS = [example for example in EXAMPLES if example.mode == "dag"]
RUNNABLE = [example for example in EXAMPLES if example.mode == "run"]


def test_every_docs_block_is_marked() -> None:
    _, problems = parse_examples()
    assert not problems, "\n".join(problems)


def test_airflow_and_core_docs_blocks_type_check(tmp_path: Path) -> None:
    assert DAG_BLOCKS, "README.md and docs/ have no block marked dag-airflow"
    errors, output = type_errors(EXAMPLES, tmp_path)
    assert not errors, output


@pytest.mark.parametrize("example", DAG_BLOCKS, ids=[example.name for example in DAG_BLOCKS])
def test_docs_dag_block_parses(example: Example, tmp_path: Path) -> None:
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import DagBag  # type: ignore[no-redef]

    (tmp_path / f"{example.module_name}.py").write_text(example.code, encoding="utf-8")
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    assert bag.dag_ids, f"{example.name} defines no DAG"


@pytest.mark.parametrize("example", RUNNABLE, ids=[example.name for example in RUNNABLE])
def test_docs_block_runs(
    example: Example, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CYBERDESK_API_KEY", emulator.api_key)
    monkeypatch.setenv("CYBERDESK_BASE_URL", emulator.url)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(example.code, example.name, "exec"), namespace)  # noqa: S102 (our own docs)
