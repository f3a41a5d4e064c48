"""Secrets canary through a full Prefect flow run (run, async run, chain, bulk).

Random canaries are the API key (of a dedicated emulator organization, kept in a saved
``CyberdeskCredentials`` block) and the sensitive inputs (a saved ``Secret`` block, a mapping of
``SecretStr``, a chain's shared and per-step secrets, a bulk request's secrets). The simulated
agent proves it received each one by returning its SHA-256. Afterwards no canary may appear in
any file under PREFECT_HOME (persisted results, logs), in any table of the Prefect database
(flow/task run parameters, results, artifacts, logs, events, ...), in the emulator's request log
or admin view, in the test's temp folder, or in anything printed or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import SecretStr
from rel_prefect_env import HOME, POLL
from reliability_support import canaries_in_tables, dump_sqlite, new_canary, scan_files

CANARY_WORKFLOW = "c1c1c1c1-0000-4000-8000-000000000001"


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.slow
def test_no_canary_survives_a_prefect_flow_run(
    emulator: Any,
    emulator_log: Path,
    prefect_db: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prefect import flow
    from prefect.blocks.system import Secret

    from cyberdesk_core import ChainStep
    from cyberdesk_prefect import (
        CyberdeskCredentials,
        arun_cyberdesk_workflow,
        bulk_create_cyberdesk_runs,
        run_cyberdesk_chain,
        run_cyberdesk_workflow,
        wait_for_cyberdesk_runs,
    )

    caplog.set_level("DEBUG")
    key = new_canary("prefect-api-key")
    secrets = {
        name: new_canary(f"prefect-{name}")
        for name in ("block", "mapping", "async", "shared", "step", "bulk")
    }
    emulator.admin.seed(
        {
            "organizations": [
                {
                    "name": "prefect-canary-org",
                    "api_keys": [key],
                    "workflows": [
                        {
                            "id": CANARY_WORKFLOW,
                            "behavior": {
                                "duration": 5,
                                "output": {
                                    "pw_sha": "{{ secrets.pw | sha256 }}",
                                    "pw_echo": "{{ secrets.pw }}",
                                    "n": "{{ inputs.n }}",
                                },
                            },
                        }
                    ],
                    "machines": [{"name": f"prefect-canary-desk-{i}"} for i in range(4)],
                }
            ]
        }
    )
    CyberdeskCredentials(api_key=key, base_url=emulator.url).save(
        "canary-credentials", overwrite=True
    )
    Secret(value=json.dumps({"pw": secrets["block"]})).save("canary-secret", overwrite=True)

    @flow
    def canary_pipeline() -> dict[str, Any]:
        # `load` is sync/async dual (value or coroutine); in a sync flow it returns the block.
        creds = cast(CyberdeskCredentials, CyberdeskCredentials.load("canary-credentials"))
        block = run_cyberdesk_workflow(
            creds,
            CANARY_WORKFLOW,
            input_values={"n": 1},
            sensitive_input_values="canary-secret",
            **POLL,
        )
        mapping = run_cyberdesk_workflow(
            creds,
            CANARY_WORKFLOW,
            input_values={"n": 2},
            sensitive_input_values={"pw": SecretStr(secrets["mapping"])},
            **POLL,
        )
        chain = run_cyberdesk_chain(
            creds,
            [
                ChainStep(workflow_id=CANARY_WORKFLOW, session_alias="first", inputs={"n": 3}),
                ChainStep(
                    workflow_id=CANARY_WORKFLOW,
                    session_alias="second",
                    inputs={"n": {"$ref": "first.outputs.n"}},
                    sensitive_inputs={"pw": SecretStr(secrets["step"])},
                ),
            ],
            shared_sensitive_inputs={"pw": SecretStr(secrets["shared"])},
            poll_interval=0.1,
        )
        bulk = bulk_create_cyberdesk_runs(
            creds,
            CANARY_WORKFLOW,
            2,
            input_values={"n": 4},
            sensitive_input_values={"pw": SecretStr(secrets["bulk"])},
        )
        waited = wait_for_cyberdesk_runs(creds, bulk, poll_interval=0.1)
        return {"block": block, "mapping": mapping, "chain": chain, "bulk": waited}

    @flow
    async def async_canary() -> Any:
        creds = await CyberdeskCredentials.aload("canary-credentials")
        return await arun_cyberdesk_workflow(
            creds,
            CANARY_WORKFLOW,
            input_values={"n": 5},
            sensitive_input_values={"pw": SecretStr(secrets["async"])},
            **POLL,
        )

    results = canary_pipeline()
    async_result = asyncio.run(async_canary())

    # The secrets really reached the simulated agent, which only ever returned their hashes.
    assert results["block"].output_data["pw_sha"] == _sha(secrets["block"])
    assert results["mapping"].output_data["pw_sha"] == _sha(secrets["mapping"])
    assert async_result.output_data["pw_sha"] == _sha(secrets["async"])
    chain_text = results["chain"].model_dump_json()
    assert _sha(secrets["shared"]) in chain_text
    assert _sha(secrets["step"]) in chain_text
    assert all(r.output_data["pw_sha"] == _sha(secrets["bulk"]) for r in results["bulk"])
    assert results["block"].output_data["pw_echo"] == "********"

    needles = [key, *secrets.values()]
    printed = capfd.readouterr()
    tables = dump_sqlite(prefect_db)
    leaks: dict[str, Any] = {
        "files": scan_files([HOME, prefect_db.parent, emulator_log, tmp_path], needles),
        "prefect_db": canaries_in_tables(tables, needles),
        "emulator_admin": [n for n in needles if n in json.dumps(emulator.admin.stats())],
        "output": [n for n in needles if n in printed.out + printed.err + caplog.text],
    }
    assert leaks == {"files": {}, "prefect_db": {}, "emulator_admin": [], "output": []}
    # The scans looked at real data: runs, parameters, logs and artifacts of this flow exist.
    assert "canary_pipeline" in tables["flow"] or "canary-pipeline" in tables["flow"]
    assert CANARY_WORKFLOW in tables["task_run"] + tables["artifact"]
    assert tables["log"]
    assert _sha(secrets["mapping"]) in "".join(tables.values()) + "".join(
        p.read_text(errors="replace") for p in (HOME / "storage").rglob("*") if p.is_file()
    )
