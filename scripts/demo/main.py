"""``make demo``: the monthly financial-reporting pipeline on Airflow and on Prefect, end to end.

1. Starts the Cyberdesk emulator as a child process, seeded with ``example_dags/emulator_seed.yaml``
   and sped up with a time scale; with ``CYBERDESK_API_KEY`` set it targets Cyberdesk Cloud (or
   ``CYBERDESK_BASE_URL``) instead and needs the workflow ids in ``CYBERDESK_*`` variables.
2. Runs the Airflow DAG with ``dag.test()`` in the Airflow environment (temporary AIRFLOW_HOME,
   fresh metadata database), then the Prefect flow in the Prefect environment (temporary
   PREFECT_HOME, ephemeral API server).
3. Prints Cyberdesk run status changes and task state changes while it waits, then a summary:
   every run with status, duration and outputs, and where every downloaded file now is.

Exit code 0 only when both pipelines succeeded; 130 when interrupted. Every child runs in its own
process group and is stopped on exit, on Ctrl-C and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any

from demo_procs import Supervisor
from demo_progress import Printer, ProgressWatcher, machine_names, names_of
from demo_summary import render, where

from cyberdesk_core import CyberdeskClient, CyberdeskError

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "example_dags" / "emulator_seed.yaml"
VENVS = ROOT / ".venvs"
#: Settings the flagship needs when it targets Cyberdesk Cloud.
CLOUD_REQUIRED = (
    "CYBERDESK_ERP_EXPORT_WORKFLOW_ID",
    "CYBERDESK_EXCEL_TRANSFORM_WORKFLOW_ID",
    "CYBERDESK_ERP_IMPORT_WORKFLOW_ID",
)
#: The flagship's workflows in the emulator seed (the same defaults the examples use).
SEED_WORKFLOWS = {
    "CYBERDESK_ERP_EXPORT_WORKFLOW_ID": "3f6b8f0e-5a1d-4c3e-8a01-000000000001",
    "CYBERDESK_EXCEL_TRANSFORM_WORKFLOW_ID": "3f6b8f0e-5a1d-4c3e-8a01-000000000002",
    "CYBERDESK_ERP_IMPORT_WORKFLOW_ID": "3f6b8f0e-5a1d-4c3e-8a01-000000000003",
}
EMULATOR_KEY = "cd_emulator_key"
#: Settings the demo sets itself for its children; values from the caller's shell are dropped.
DEMO_OWNED = {
    "CYBERDESK_CONN_ID",
    "CYBERDESK_CREDENTIALS_BLOCK",
    "CYBERDESK_EXAMPLES_STORAGE",
    "CYBERDESK_POLL_INTERVAL",
}


def is_cloud_setting(name: str) -> bool:
    """True for the variables that point the examples at a Cyberdesk organization."""
    return name.startswith("CYBERDESK_") and (
        name.endswith("_ID")
        or name in ("CYBERDESK_API_KEY", "CYBERDESK_BASE_URL", "CYBERDESK_COMPANY")
    )


class Interrupted(Exception):
    """SIGTERM or SIGHUP arrived: stop like on Ctrl-C."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def previous_month(today: date) -> str:
    """``YYYY-MM`` of the month before ``today`` (what the @monthly DAG closes when run now)."""
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


class Demo:
    """One demo run: target, children, progress, summary."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work: Path = args.workdir
        self.printer = Printer(time.time())
        self.supervisor = Supervisor(args.pgid_file)
        self.watcher: ProgressWatcher | None = None
        self.client: CyberdeskClient | None = None
        self.base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "PREFECT_")) and k not in DEMO_OWNED
        }

    # -- preparation --------------------------------------------------------------------------

    def prepare_folders(self) -> None:
        """Fresh logs, storage and temporary homes under the work folder."""
        for name in ("logs", "storage", "homes", "reports"):
            shutil.rmtree(self.work / name, ignore_errors=True)
            (self.work / name).mkdir(parents=True)

    def start_target(self) -> tuple[str, str]:
        """Start the emulator, or check the Cloud settings; returns (base URL, API key)."""
        api_key = os.environ.get("CYBERDESK_API_KEY")
        if api_key:
            base_url = os.environ.get("CYBERDESK_BASE_URL") or "https://api.cyberdesk.io"
            missing = [name for name in CLOUD_REQUIRED if not os.environ.get(name)]
            if missing:
                raise SystemExit(
                    "CYBERDESK_API_KEY is set, so the demo targets "
                    f"{base_url}; set the ids of your workflows too: {', '.join(missing)} "
                    "(see docs/examples.md)"
                )
            # Without a finance pool, the chain may run on any machine of the organization.
            self.base_env.setdefault("CYBERDESK_FINANCE_POOL_ID", "")
            self.printer.line("cyberdesk", f"targeting {base_url} (CYBERDESK_API_KEY is set)")
            return base_url, api_key
        # The emulator knows only its seed: ids meant for a Cloud organization would not resolve.
        self.base_env = {k: v for k, v in self.base_env.items() if not is_cloud_setting(k)}
        port = free_port()
        argv = [
            str(VENVS / "airflow" / "bin" / "python"),
            "-m",
            "cyberdesk_emulator",
            "serve",
            "--port",
            str(port),
            "--seed",
            str(SEED),
            "--api-key",
            EMULATOR_KEY,
            "--time-scale",
            str(self.args.time_scale),
        ]
        self.supervisor.spawn("emulator", argv, env=self.base_env, log_path=self.log("emulator"))
        url = f"http://127.0.0.1:{port}"
        self.wait_healthy(url)
        self.printer.line(
            "emulator",
            f"serving {url}, seeded with {SEED.relative_to(ROOT)}, simulated time "
            f"{self.args.time_scale:g}x faster",
        )
        self.base_env.update(SEED_WORKFLOWS)
        return url, EMULATOR_KEY

    def wait_healthy(self, url: str) -> None:
        """Wait until the emulator answers its health endpoint (20 s at most)."""
        deadline = time.monotonic() + 20
        with CyberdeskClient(EMULATOR_KEY, base_url=url, max_retries=0, timeout=2) as client:
            while True:
                try:
                    client.health()
                    return
                except CyberdeskError:
                    if time.monotonic() > deadline:
                        raise SystemExit(
                            f"the emulator did not start; see {self.log('emulator')}"
                        ) from None
                    time.sleep(0.2)

    def log(self, name: str) -> Path:
        """Log file of a child process."""
        return self.work / "logs" / f"{name}.log"

    # -- pipelines ----------------------------------------------------------------------------

    def start_child(self, engine: str, argv: list[str], env: dict[str, str]) -> Any:
        """Start one pipeline runner (its output goes to its log file)."""
        return self.supervisor.spawn(engine, argv, env=env, log_path=self.log(engine))

    def finish_child(self, engine: str, proc: Any) -> dict[str, Any]:
        """Wait for a pipeline runner, stop what is left of its group, and read its report."""
        proc.wait()
        self.supervisor.stop(proc, grace=2)
        report_path = self.work / "reports" / f"{engine}.json"
        if report_path.exists():
            report: dict[str, Any] = json.loads(report_path.read_text(encoding="utf-8"))
            return report
        return {
            "engine": engine,
            "ok": False,
            "error": f"runner exited with code {proc.returncode}; see {self.log(engine)}",
        }

    def events(self, engine: str) -> Path:
        """Progress-event file of a pipeline runner."""
        return self.work / "logs" / f"{engine}.events"

    def pipeline_env(self, engine: str, url: str, key: str) -> dict[str, str]:
        """Environment of a pipeline runner."""
        env = dict(self.base_env)
        env.update(
            CYBERDESK_EXAMPLES_STORAGE=str(self.work / "storage" / engine),
            CYBERDESK_POLL_INTERVAL=str(self.args.poll_interval),
            PYTHONUNBUFFERED="1",
        )
        if engine == "airflow":
            env.pop("CYBERDESK_API_KEY", None)
            env["AIRFLOW_CONN_CYBERDESK_DEFAULT"] = json.dumps(
                {"conn_type": "cyberdesk", "host": url, "password": key}
            )
        else:
            env.update(CYBERDESK_API_KEY=key, CYBERDESK_BASE_URL=url)
        return env

    def start_airflow(self, url: str, key: str) -> Any:
        """The DAG with ``dag.test()`` in the Airflow environment."""
        self.printer.line("airflow", "starting (Airflow venv, temporary AIRFLOW_HOME)")
        argv = [
            str(VENVS / "airflow" / "bin" / "python"),
            str(ROOT / "scripts" / "demo" / "airflow_pipeline.py"),
            "--home",
            str(self.work / "homes" / "airflow"),
            "--events",
            str(self.events("airflow")),
            "--report",
            str(self.work / "reports" / "airflow.json"),
        ]
        return self.start_child("airflow", argv, self.pipeline_env("airflow", url, key))

    def start_prefect(self, url: str, key: str, month: str, go: Path) -> Any:
        """The flow in the Prefect environment; it starts its flow run once ``go`` exists."""
        self.printer.line("prefect", "starting (Prefect venv, temporary PREFECT_HOME)")
        argv = [
            str(VENVS / "prefect" / "bin" / "python"),
            str(ROOT / "scripts" / "demo" / "prefect_pipeline.py"),
            "--home",
            str(self.work / "homes" / "prefect"),
            "--events",
            str(self.events("prefect")),
            "--report",
            str(self.work / "reports" / "prefect.json"),
            "--month",
            month,
            "--go",
            str(go),
        ]
        return self.start_child("prefect", argv, self.pipeline_env("prefect", url, key))

    # -- the whole run ------------------------------------------------------------------------

    def run(self) -> int:
        """Both pipelines and the summary; the exit code of the demo."""
        self.prepare_folders()
        url, key = self.start_target()
        month = previous_month(datetime.now(timezone.utc).date())
        self.client = CyberdeskClient(key, base_url=url)
        workflow_ids = [self.base_env[name] for name in CLOUD_REQUIRED]
        names = names_of(self.client, workflow_ids)
        self.watcher = ProgressWatcher(
            self.client,
            self.printer,
            names,
            machine_names(self.client),
            since=datetime.now(timezone.utc) - timedelta(seconds=5),
            event_files=[self.events("airflow"), self.events("prefect")],
        )
        self.watcher.start()
        self.printer.line("demo", f"closing the books for {month} on both engines")
        # Both engines start up at once (database migrations, API server); the pipelines then run
        # one after the other so that the progress of each stays readable.
        go = self.work / "homes" / "prefect-go"
        airflow = self.start_airflow(url, key)
        prefect = self.start_prefect(url, key, month, go)
        # The report is written before the Airflow runner shuts down; Prefect may start then.
        airflow_report = self.work / "reports" / "airflow.json"
        while airflow.poll() is None and not airflow_report.exists():
            time.sleep(0.2)
        go.touch()
        reports = [self.finish_child("airflow", airflow), self.finish_child("prefect", prefect)]
        self.watcher.stop()
        self.watcher = None
        print()
        print(render(self.client, reports, names))
        ok = all(report.get("ok") for report in reports)
        elapsed = time.time() - self.printer.started
        print()
        print(
            f"{'Both pipelines succeeded' if ok else 'A pipeline FAILED'} in {elapsed:.0f}s. "
            f"Engine logs: {where(str(self.work / 'logs'))}/"
        )
        return 0 if ok else 1

    def cancel_unfinished(self) -> None:
        """On interruption, cancel the Cyberdesk runs still in flight (matters for Cloud)."""
        if self.watcher is None or self.client is None:
            return
        self.watcher.stop()
        for run_id in self.watcher.unfinished():
            try:
                self.client.runs.cancel(run_id)
                self.printer.line("cyberdesk", f"cancelled run {run_id[:8]}")
            except CyberdeskError as exc:
                self.printer.line("cyberdesk", f"could not cancel run {run_id[:8]}: {exc}")

    def close(self) -> None:
        """Stop every child and remove the temporary homes."""
        self.supervisor.stop_all()
        shutil.rmtree(self.work / "homes", ignore_errors=True)
        if self.client is not None:
            self.client.close()


def main() -> int:
    """Entry point of ``scripts/demo.sh``."""
    parser = argparse.ArgumentParser(description="Run the flagship pipeline on both engines.")
    parser.add_argument("--workdir", type=Path, default=ROOT / ".demo")
    parser.add_argument("--pgid-file", type=Path, default=None)
    parser.add_argument("--time-scale", type=float, default=20.0)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    args = parser.parse_args()
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    demo = Demo(args)
    try:
        return demo.run()
    except (KeyboardInterrupt, Interrupted):
        demo.printer.line("demo", "interrupted: stopping every process the demo started")
        # Ignore further Ctrl-C while cleaning up, so cleanup always completes.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        demo.cancel_unfinished()
        return 130
    finally:
        demo.close()


if __name__ == "__main__":
    sys.exit(main())
