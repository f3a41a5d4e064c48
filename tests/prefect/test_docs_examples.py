"""The README/docs Python blocks the Prefect environment checks (markers: tests/docs_examples.py).

Every prefect block is type-checked; the ``run-prefect`` ones are executed as written against
the session's emulator and Prefect server. What the prose around them assumes exists is made real
first: the workflow ids they name, the Secret block ``erp-login``, the global concurrency limit
``erp``, the saved ``monthly-report`` workflow block and, for the flows, a ``cyberdesk``
credentials block pointing at the emulator. Paths under ``/data/`` are moved into a temporary
folder. A block defining flows has them called with the arguments in ``FLOW_ARGUMENTS``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect import Flow
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.exceptions import ObjectNotFound
from prefect_seed import OK_BEHAVIOR

from cyberdesk_prefect import CyberdeskCredentials, CyberdeskWorkflow

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from docs_examples import (
    Example,
    examples_for,
    in_oldest_release_env,
    parse_examples,
    type_errors,
)

EXAMPLES = examples_for("prefect")
RUNNABLE = [example for example in EXAMPLES if example.mode == "run"]

# The workflow ids docs/prefect.md names ("A complete flow").
TRIAL_BALANCE = "0f6a5d52-9d0e-4a57-9a2e-9a0f3c4b5e61"
POST_TO_LEDGER = "4c1e8b2a-7d3f-4e19-a6c5-1b2d3e4f5a60"
FLOW_ARGUMENTS: dict[str, dict[str, Any]] = {
    "month_end_close": {"months": ["2026-10", "2026-11"]},
    "trial_balance": {"month": "2026-11", "workflow_id": TRIAL_BALANCE},
}


def test_every_docs_block_is_marked() -> None:
    _, problems = parse_examples()
    assert not problems, "\n".join(problems)


# Prefect 3.4's own annotations type a task call inside a flow as a State and `save` as a coroutine;
# the docs are typed against the newest release (the blocks still run in the oldest environment).
@pytest.mark.skipif(in_oldest_release_env(), reason="docs are typed against the newest Prefect")
def test_prefect_docs_blocks_type_check(tmp_path: Path) -> None:
    assert EXAMPLES, "no block of README.md or docs/ is marked for the Prefect environment"
    errors, output = type_errors(EXAMPLES, tmp_path)
    assert not errors, output


@pytest.fixture(scope="module")
def docs_world(emulator: Any) -> CyberdeskCredentials:
    """What the docs' prose says exists; returns credentials pointing at the emulator."""
    emulator.admin.seed(
        {
            "workflows": [
                {"id": TRIAL_BALANCE, "name": "Trial balance", "behavior": OK_BEHAVIOR},
                {"id": POST_TO_LEDGER, "name": "Post to ledger", "behavior": OK_BEHAVIOR},
            ]
        }
    )
    Secret(value={"erp_password": "s3cret"}).save("erp-login", overwrite=True)
    with get_client(sync_client=True) as client:
        if "erp" not in {limit.name for limit in client.read_global_concurrency_limits()}:
            client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name="erp", limit=4)
            )
    credentials = CyberdeskCredentials(api_key=emulator.api_key, base_url=emulator.url)
    CyberdeskWorkflow(
        credentials=credentials,
        workflow_id=TRIAL_BALANCE,
        poll_interval=0.2,
        max_poll_interval=0.5,
    ).save("monthly-report", overwrite=True)
    return credentials


@pytest.fixture
def no_cyberdesk_block() -> Iterator[None]:
    """Blocks that save the ``cyberdesk`` credentials start (and leave) without one."""

    def _delete() -> None:
        with get_client(sync_client=True) as client:
            try:
                document = client.read_block_document_by_name("cyberdesk", "cyberdesk-credentials")
            except ObjectNotFound:
                return
            client.delete_block_document(document.id)

    _delete()
    yield
    _delete()


@pytest.mark.parametrize("example", RUNNABLE, ids=[example.name for example in RUNNABLE])
def test_prefect_docs_block_runs(
    example: Example,
    docs_world: CyberdeskCredentials,
    no_cyberdesk_block: None,
    tmp_path: Path,
) -> None:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    code = example.code.replace('"/data/', f'"{tmp_path}/data/')
    exec(compile(code, example.name, "exec"), namespace)  # noqa: S102 (our own docs)
    flows = [
        value
        for value in namespace.values()
        if isinstance(value, Flow) and value.fn.__module__ == "docs_example"
    ]
    for docs_flow in flows:
        arguments = FLOW_ARGUMENTS.get(docs_flow.fn.__name__)
        assert arguments is not None, (
            f"{example.name}: add {docs_flow.fn.__name__} to FLOW_ARGUMENTS"
        )
        docs_world.save("cyberdesk", overwrite=True)
        docs_flow(**arguments)
