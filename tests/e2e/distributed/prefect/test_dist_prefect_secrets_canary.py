"""Secrets canary through a deployment run on a work-pool worker.

The canaries are the API key of a dedicated emulator organization (kept in a saved
`CyberdeskCredentials` block) and a sensitive input (kept in a saved `Secret` block); the
deployment's parameters only name the blocks. The flow run logs at DEBUG and persists every
result. The simulated agent proves it received the secret by returning its SHA-256. Afterwards
no canary may appear in the PostgreSQL database (a full `pg_dump`: every table) or the
cluster's files, in any log (server, workers, flow-run output, which the process worker streams
into its own log), in any file under the installation's temp folder (Prefect homes, persisted
results), in the emulator's request log or admin view, or in anything this process printed.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import dist_prefect_api as api
import pytest
from dist_prefect_env import CANARY, ROOT, reliability_support
from dist_prefect_stack import PrefectStack

from cyberdesk_core import CyberdeskClient

pytest_plugins = ["dist_prefect_plugin"]

CANARY_WORKFLOW = "c2c2c2c2-0000-4000-8000-000000000001"
RUNS = 3


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.mark.e2e
def test_no_canary_survives_a_deployment_run(
    two_workers: PrefectStack,
    dist_emulator: Any,
    dist_postgres: Any,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from prefect.blocks.system import Secret

    from cyberdesk_prefect import CyberdeskCredentials

    support = reliability_support()
    key, secret = support.new_canary("dist-api-key"), support.new_canary("dist-secret")
    dist_emulator.admin.seed(
        {
            "organizations": [
                {
                    "name": "dist-canary-org",
                    "api_keys": [key],
                    "workflows": [
                        {
                            "id": CANARY_WORKFLOW,
                            "behavior": {
                                "duration": 5,
                                "output": {
                                    "pw_sha": "{{ secrets.pw | sha256 }}",
                                    "pw_echo": "{{ secrets.pw }}",
                                    "i": "{{ inputs.i }}",
                                },
                            },
                        }
                    ],
                    "machines": [{"name": f"dist-canary-desk-{i}"} for i in range(RUNS)],
                }
            ]
        }
    )
    CyberdeskCredentials(api_key=key, base_url=dist_emulator.url).save(
        "dist-canary-credentials", overwrite=True
    )
    Secret(value=json.dumps({"pw": secret})).save("dist-canary-secret", overwrite=True)

    flow_run_id = api.start_run(
        CANARY,
        {
            "credentials_block": "dist-canary-credentials",
            "workflow_ids": [CANARY_WORKFLOW] * RUNS,
            "secret_block": "dist-canary-secret",
            "poll_interval": 0.5,
        },
    )
    final = api.wait_final(flow_run_id, timeout=180, alive=two_workers.assert_running)
    assert api.state_of(final) == "COMPLETED", (final.state, two_workers.log_tails())

    # The secret reached the simulated agent, which only ever returned its hash.
    with CyberdeskClient(key, base_url=dist_emulator.url) as client:
        runs = list(client.runs.iter(workflow_id=CANARY_WORKFLOW))
    assert len(runs) == RUNS
    assert {(run.output_data or {}).get("pw_sha") for run in runs} == {_sha(secret)}
    assert {(run.output_data or {}).get("pw_echo") for run in runs} == {"********"}

    dump = dist_postgres.dump("prefect")
    logs = two_workers.logs()
    printed = capfd.readouterr()
    needles = [key, secret]
    leaks: dict[str, Any] = {
        "postgres": [n for n in needles if n in dump],
        "logs": {name: [n for n in needles if n in text] for name, text in logs.items()},
        "files": support.scan_files([ROOT, dist_postgres.root], needles),
        "emulator_admin": [n for n in needles if n in json.dumps(dist_emulator.admin.stats())],
        "output": [n for n in needles if n in printed.out + printed.err + caplog.text],
    }
    leaks["logs"] = {name: found for name, found in leaks["logs"].items() if found}
    assert leaks == {"postgres": [], "logs": {}, "files": {}, "emulator_admin": [], "output": []}

    # The searches looked at real data: the flow run, its tasks' parameters, its DEBUG logs
    # and its persisted results are all there.
    assert str(flow_run_id) in dump
    assert CANARY_WORKFLOW in dump
    assert "dist-canary-secret" in dump  # the parameter naming the block
    assert _sha(secret) in dump + "".join(
        p.read_text(errors="replace")
        for p in ROOT.rglob("*")
        if p.is_file() and "storage" in str(p)
    )
    flow_run_output = "".join(logs.values())
    assert "DEBUG" in flow_run_output
    assert f"Cyberdesk run {runs[0].id}" in flow_run_output or runs[0].id in flow_run_output
