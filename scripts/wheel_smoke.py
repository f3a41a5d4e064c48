"""Smoke test of the built wheel inside a fresh environment: ``python -I wheel_smoke.py ENGINE``.

scripts/wheel-smoke.sh creates the environment (the wheel, not editable, with the engine's locked
constraints), sets AIRFLOW_HOME / PREFECT_HOME to a temporary folder and runs this file from a
temporary working directory with ``-I``, so neither the checkout nor PYTHONPATH is importable.
Only the standard library is imported before the engine, and the checks are the ones a user
meets first:

- ``airflow``: the package is imported from the environment's site-packages; ``airflow providers
  list`` shows the provider (found through the ``apache_airflow_provider`` entry point); one DAG
  with a deferrable ``CyberdeskRunOperator`` runs with ``dag.test()`` against the emulator, which
  runs as a subprocess started by the wheel's ``cyberdesk-emulator`` script.
- ``prefect``: the same import check; the Prefect server (``prefect_test_harness``) registered
  the ``cyberdesk-credentials`` and ``cyberdesk-workflow`` block types by itself (through the
  ``prefect.collections`` entry point); one flow runs ``run_cyberdesk_workflow`` against the
  emulator.

Prints one line per check and exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WORKFLOW_ID = "5e0c7a1d-0000-4000-8000-00000000a001"
API_KEY = "cd_wheel_smoke_key"
SEED = {
    "workflows": [
        {
            "id": WORKFLOW_ID,
            "name": "Wheel smoke",
            "main_prompt": "Greet {name}.",
            "behavior": {"duration": 1, "output": {"greeting": "hello {{ inputs.name }}"}},
        }
    ],
    "machines": [{"name": "smoke-desk-01", "hostname": "smoke-01.example", "os_info": "Linux"}],
}
EXPECTED_OUTPUT = {"greeting": "hello wheel"}


STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line (seconds since start), flushed so it interleaves with the engines' own
    output; wheel-smoke.sh shows only these lines unless the smoke test fails."""
    print(f"wheel-smoke: [{time.monotonic() - STARTED:5.1f} s] {message}", flush=True)


def check_installed_from_wheel(engine: str) -> None:
    """Fail unless our packages for ``engine`` are imported from this environment's site-packages
    (the other engine's package needs an engine this environment does not have)."""
    import importlib

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    for name in ("cyberdesk_core", "cyberdesk_emulator", f"cyberdesk_{engine}"):
        location = Path(str(importlib.import_module(name).__file__)).resolve()
        if not location.is_relative_to(site):
            raise SystemExit(f"wheel-smoke: {name} comes from {location}, not {site}")
    version = importlib.import_module("cyberdesk_core").__version__
    say(f"cyberdesk_core {version} and cyberdesk_{engine} imported from {site}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def emulator(workdir: Path) -> Iterator[str]:
    """Serve the emulator (the wheel's console script) on loopback; yield its base URL."""
    seed = workdir / "seed.json"
    seed.write_text(json.dumps(SEED), encoding="utf-8")
    port = _free_port()
    script = Path(sys.executable).with_name("cyberdesk-emulator")
    command = [str(script), "serve", "--port", str(port), "--seed", str(seed), "--api-key", API_KEY]
    log = (workdir / "emulator.log").open("wb")
    # The wheel's own console script, with fixed arguments.
    process = subprocess.Popen([*command, "--time-scale", "10"], stdout=log, stderr=log)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v1/health", timeout=2):  # noqa: S310 - loopback
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    output = (workdir / "emulator.log").read_text(errors="replace")
                    raise SystemExit(
                        f"wheel-smoke: the emulator did not start:\n{output}"
                    ) from None
                time.sleep(0.2)
        say(f"emulator serving at {url}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def smoke_airflow(workdir: Path) -> None:
    """Provider listed by the Airflow CLI, and one DAG run with ``dag.test()``."""
    airflow = str(Path(sys.executable).with_name("airflow"))
    # The environment's own airflow script, fixed arguments.
    subprocess.run([airflow, "db", "migrate"], check=True, capture_output=True, timeout=300)  # noqa: S603
    say("airflow db migrate done")
    listed = subprocess.run(  # noqa: S603
        [airflow, "providers", "list", "--output", "json"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    providers = {entry["package_name"]: entry for entry in json.loads(listed.stdout)}
    if "cyberdesk-orchestration" not in providers:
        raise SystemExit(f"wheel-smoke: airflow providers list lacks us: {sorted(providers)}")
    say(f"airflow providers list: {providers['cyberdesk-orchestration']}")
    with emulator(workdir) as url:
        os.environ["AIRFLOW_CONN_CYBERDESK_DEFAULT"] = json.dumps(
            {"conn_type": "cyberdesk", "host": url, "password": API_KEY}
        )
        state = _run_dag()
    if state != "success":
        raise SystemExit(f"wheel-smoke: the DAG run ended {state}")
    say("dag.test() with CyberdeskRunOperator (deferred) succeeded")


def _run_dag() -> str:
    from datetime import datetime, timezone
    from types import SimpleNamespace

    from airflow.sdk import DAG, task

    from cyberdesk_airflow.operators import CyberdeskRunOperator

    try:
        from airflow.dag_processing.dagbag import sync_bag_to_db
    except ImportError:  # Airflow < 3.2
        from airflow.models.dagbag import sync_bag_to_db  # type: ignore[no-redef, unused-ignore]

    with DAG(
        "cyberdesk_wheel_smoke", schedule=None, start_date=datetime(2026, 1, 1, tzinfo=timezone.utc)
    ) as dag:
        run = CyberdeskRunOperator(
            task_id="greet",
            workflow_id=WORKFLOW_ID,
            input_values={"name": "wheel"},
            deferrable=True,
            poll_interval=0.2,
        )

        @task  # type: ignore[untyped-decorator, unused-ignore]  # typed only with airflow installed
        def check(output: Any) -> None:
            if output != EXPECTED_OUTPUT:
                raise ValueError(f"unexpected output_data {output!r}")

        check(run.output)
    from airflow.dag_processing.bundles.manager import DagBundlesManager

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call, unused-ignore]
    bag: Any = SimpleNamespace(
        dags={dag.dag_id: dag},
        import_errors={},
        bundle_path=None,
        dag_warnings=set(),
        file_last_changed={},
    )
    sync_bag_to_db(bag, "dags-folder", None)
    return str(dag.test().state)


def smoke_prefect(workdir: Path) -> None:
    """Block types registered by the server from our collection, and one flow run."""
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.testing.utilities import prefect_test_harness

    from cyberdesk_prefect import CyberdeskCredentials, run_cyberdesk_workflow

    with prefect_test_harness(server_startup_timeout=120), emulator(workdir) as url:
        with get_client(sync_client=True) as client:
            for slug in ("cyberdesk-credentials", "cyberdesk-workflow"):
                client.read_block_type_by_slug(slug)
        say("block types cyberdesk-credentials and cyberdesk-workflow registered")

        @flow  # type: ignore[untyped-decorator, unused-ignore]  # typed only with prefect installed
        def wheel_smoke() -> dict[str, Any] | None:
            credentials = CyberdeskCredentials(api_key=API_KEY, base_url=url)
            result = run_cyberdesk_workflow(
                credentials, WORKFLOW_ID, input_values={"name": "wheel"}, live_steps=False
            )
            output_data: dict[str, Any] | None = result.output_data
            return output_data

        output = wheel_smoke()
    if output != EXPECTED_OUTPUT:
        raise SystemExit(f"wheel-smoke: the flow returned {output!r}")
    say("flow with run_cyberdesk_workflow succeeded")


def main(argv: list[str]) -> int:
    """Run the smoke test of one engine (``airflow`` or ``prefect``)."""
    engines = {"airflow": smoke_airflow, "prefect": smoke_prefect}
    if len(argv) != 2 or argv[1] not in engines:
        print(__doc__, file=sys.stderr)
        return 2
    check_installed_from_wheel(argv[1])
    with tempfile.TemporaryDirectory(prefix="cyberdesk-wheel-smoke-") as workdir:
        engines[argv[1]](Path(workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
