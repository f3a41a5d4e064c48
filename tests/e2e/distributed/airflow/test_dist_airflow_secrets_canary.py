"""Secrets canary through the distributed stack: no secret is written anywhere.

The single-machine suite's canary DAG run (``airflow_canary.canary_dag_run``: random canaries as
the API key and as sensitive inputs, in deferred and worker-side runs, a chain and a bulk
batch), here with Celery workers, two triggerers, PostgreSQL and Redis. No canary may appear in
any table of any schema of PostgreSQL (``pg_dump``, bytea decoded), its data files (heap and
WAL), any key or value of Redis (sampled all through the run, since Celery messages live there
only while a task is queued or running; base64 bodies decoded), any trigger row (decrypted),
the Celery workers' and every other service's logs, task and trigger logs, the emulator's log,
temp files written since the session started, or the test's captured output.

A non-secret marker travels the same channels (DAG run id and ``conf``, a rendered input, a
task log, a temp file) and must be found in each searched place, so the search is proved able
to see a leak there.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dist_paths  # noqa: F401  (puts the shared helpers on sys.path)
import pytest
from airflow_api import AirflowApi
from airflow_canary import (
    DAG_ID,
    SessionSecrets,
    canary_dag_run,
    decrypt_trigger_rows,
    find_markers,
)
from dist_airflow_stack import DATABASE, WORKERS, DistributedAirflowStack
from dist_canary import postgres_text, redis_snapshot

from cyberdesk_emulator import EmulatorServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
pytest_plugins = ["dist_airflow_plugin"]


def test_no_canary_leaks_through_the_distributed_services(
    airflow_stack: DistributedAirflowStack,
    airflow_api: AirflowApi,
    e2e_emulator: EmulatorServer,
    e2e_emulator_log: Path,
    e2e_canary_secrets: SessionSecrets,
    tmp_path_factory: pytest.TempPathFactory,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    stack = airflow_stack
    fernet_key = stack.env["AIRFLOW__CORE__FERNET_KEY"]

    def read_triggers() -> dict[int, str]:
        return decrypt_trigger_rows(
            stack.sql("SELECT id, classpath, kwargs FROM trigger"), fernet_key
        )

    snapshots: dict[str, None] = {}

    def sample_redis() -> None:
        snapshots.setdefault(redis_snapshot(stack.redis))

    with canary_dag_run(
        stack,
        airflow_api,
        e2e_emulator,
        e2e_canary_secrets,
        read_triggers=read_triggers,
        on_poll=sample_redis,
        marker_in_run_id=True,
    ) as run:
        sample_redis()
        logging.getLogger("cyberdesk_emulator").info("planted marker: %s", run.planted)
        printed = capfd.readouterr()
        found = find_markers(
            [*run.canaries.values(), run.planted],
            trees=[
                stack.home,
                e2e_emulator_log,
                tmp_path_factory.getbasetemp(),
                stack.postgres.data,
                stack.redis.root,
            ],
            databases=[],
            temp_since=e2e_canary_secrets.created_at,
            texts={
                "postgres": postgres_text(stack.postgres, DATABASE),
                **{f"redis snapshot {n}": text for n, text in enumerate(snapshots)},
                "captured output": printed.out + printed.err,
                "captured log records": caplog.text,
                **{f"trigger row {tid}": text for tid, text in run.trigger_rows.items()},
            },
        )

    # Self-check: the search sees the marker wherever the DAG run put it.
    where = found[run.planted]
    logs = stack.home / "logs" / f"dag_id={DAG_ID}" / f"run_id={run.run_id}"
    assert {"text:postgres", f"file:{e2e_emulator_log}", "text:captured log records"} <= where
    # PostgreSQL's own files (heap or write-ahead log), and a Celery message in Redis.
    assert any(place.startswith(f"file:{stack.postgres.data}/") for place in where), sorted(where)
    assert any(place.startswith("text:redis snapshot ") for place in where), sorted(where)
    # The Celery workers' own logs, and the plant task's log (written by a worker's task).
    workers = {f"file:{stack.home / 'service-logs'}/{name}-" for name in WORKERS}
    assert any(place.startswith(tuple(workers)) for place in where), sorted(where)
    assert any(place.startswith(f"file:{logs}/task_id=plant/") for place in where), sorted(where)
    assert run.planted_files, "the plant task left no temp file"
    assert {f"file:{path}" for path in run.planted_files} <= where, sorted(where)

    # No secret anywhere.
    leaks = {name: sorted(found[c]) for name, c in run.canaries.items() if found[c]}
    assert leaks == {}
