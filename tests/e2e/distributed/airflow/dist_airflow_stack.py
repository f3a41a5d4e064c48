"""The production-shaped Airflow stack: CeleryExecutor with a Redis broker, PostgreSQL for the
metadata DB and the Celery result backend, api-server, scheduler, dag-processor, two triggerers
and two Celery workers, all on loopback.

It extends the single-machine stack (``tests/e2e/airflow/airflow_stack.py``): same process
marker, teardown and leftover check; the services start one after another, each waited for.
"""

from __future__ import annotations

import contextlib
import signal
from dataclasses import dataclass, field

import dist_paths  # noqa: F401  (puts the shared helpers on sys.path)
import httpx
import psutil
from airflow_stack import AirflowStack, Service, poll_until
from services import FIELD_SEPARATOR, PostgresServer, RedisServer

DATABASE = "airflow"
TRIGGERERS = ("triggerer-a", "triggerer-b")
WORKERS = ("worker-1", "worker-2")
#: The trigger queue each triggerer serves besides ``default`` (``[triggerer] queues_enabled``):
#: a task with ``queue=<pinned>`` defers to that triggerer only, so a test can choose the holder.
PINNED_QUEUES = {"triggerer-a": "pinned_a", "triggerer-b": "pinned_b"}
WORKER_QUEUES = ",".join(["default", *PINNED_QUEUES.values()])
#: Task processes per Celery worker: 2 x 4 on a 2-core machine.
WORKER_CONCURRENCY = 4
#: A triggerer whose heartbeat is older than this (s) loses its triggers to a live one.
TRIGGERER_HEALTH_CHECK_THRESHOLD = 10
#: A running task whose heartbeat is older than this (s) is failed (and retried).
TASK_HEARTBEAT_TIMEOUT = 20


def celery_env(
    base: dict[str, str], postgres: PostgresServer, redis: RedisServer
) -> dict[str, str]:
    """The single-machine stack's environment switched to Celery, PostgreSQL and Redis.

    Failure detection is set low so the tests see takeovers in seconds (production defaults:
    triggerer heartbeat 5 s, health threshold 30 s, task heartbeat timeout 300 s).
    """
    return {
        **base,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(len(WORKERS) * WORKER_CONCURRENCY),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": postgres.url(DATABASE, "postgresql+psycopg2"),
        "AIRFLOW__CELERY__BROKER_URL": redis.url(0),
        # SQLAlchemy 2.1 reads plain postgresql:// as psycopg 3; Airflow ships psycopg2.
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + postgres.url(DATABASE, "postgresql+psycopg2"),
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(WORKER_CONCURRENCY),
        # Publishing to Redis can take over the 1 s default while 2 cores start 8 task processes.
        "AIRFLOW__CELERY__OPERATION_TIMEOUT": "10",
        "AIRFLOW__TRIGGERER__QUEUES_ENABLED": "True",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
        "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(
            TRIGGERER_HEALTH_CHECK_THRESHOLD
        ),
        # Fewer triggers claimed per loop spreads a burst of deferrals over both triggerers.
        "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": "10",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(TASK_HEARTBEAT_TIMEOUT),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    }


@dataclass(kw_only=True)
class DistributedAirflowStack(AirflowStack):
    """The Airflow services of the distributed stack plus the servers they depend on."""

    postgres: PostgresServer
    redis: RedisServer
    #: ``{service name: TriggererJob id}`` of every triggerer started (the trigger table's
    #: ``triggerer_id``).
    triggerer_jobs: dict[str, int] = field(default_factory=dict)

    def start_all(self) -> None:
        """Start the services one after another, each healthy before the next (2 cores)."""
        self.sampled_pids += [self.postgres.pid, self.redis.pid]
        self.start_sampler()
        for name in ("scheduler", "api-server", "dag-processor"):
            self.start(name)
        self.wait_healthy_parts(("metadatabase", "scheduler", "dag_processor"))
        for name in TRIGGERERS:
            self.start_triggerer(name)
        for name in WORKERS:
            self.start_worker(name)
        self.wait_healthy()

    def wait_healthy_parts(self, parts: tuple[str, ...]) -> None:
        """Wait until the health endpoint reports ``parts`` healthy (services keep running)."""

        def check() -> bool:
            self.assert_running()
            try:
                report = self.health()
            except httpx.HTTPStatusError:  # not serving yet
                return False
            return all((report.get(part) or {}).get("status") == "healthy" for part in parts)

        poll_until(check, timeout=120, what=f"healthy {', '.join(parts)}")

    def start_triggerer(self, name: str) -> Service:
        """Start a triggerer serving ``default`` and its pinned queue; wait for its job row."""
        known = set(self.triggerer_jobs.values()) | set(self._triggerer_job_ids())
        service = self.start(
            name,
            ["triggerer", "--skip-serve-logs", "--queues", f"default,{PINNED_QUEUES[name]}"],
        )

        def new_job() -> int | None:
            self.assert_running()
            fresh = [job for job in self._triggerer_job_ids() if job not in known]
            return fresh[0] if fresh else None

        self.triggerer_jobs[name] = poll_until(new_job, timeout=90, what=f"{name}'s job")
        return service

    def start_worker(self, name: str) -> Service:
        """Start a Celery worker named ``<name>@<host>``; wait until Celery says it is ready."""
        service = self.start(
            name,
            [
                "celery",
                "worker",
                *("--celery-hostname", f"{name}@%h"),
                *("--concurrency", str(WORKER_CONCURRENCY)),
                *("--queues", WORKER_QUEUES),
                *("--pid", str(self.home / f"{name}.pid")),
                "--skip-serve-logs",
                "--without-mingle",
                "--without-gossip",
            ],
        )

        def ready() -> bool:
            self.assert_running()
            return f"{name}@" in (text := service.log_path.read_text(errors="replace")) and (
                " ready." in text
            )

        poll_until(ready, timeout=90, what=f"Celery worker {name} to be ready")
        return service

    # -- the metadata database ------------------------------------------------------------------

    def sql(self, query: str, **variables: str) -> list[list[str]]:
        """Rows of a query on the metadata DB (fields as text; ``:'name'`` for a variable)."""
        out = self.postgres.psql(query, DATABASE, **variables)
        return [line.split(FIELD_SEPARATOR) for line in out.splitlines() if line]

    def _triggerer_job_ids(self) -> list[int]:
        rows = self.sql(
            "SELECT id FROM job WHERE job_type = 'TriggererJob' AND end_date IS NULL ORDER BY id"
        )
        return [int(row[0]) for row in rows]

    def trigger_holders(self, dag_id: str, run_id: str) -> dict[tuple[str, int], int | None]:
        """``{(task_id, map_index): triggerer job id or None}`` of the run's deferred tasks."""
        rows = self.sql(
            "SELECT ti.task_id, ti.map_index, t.triggerer_id FROM task_instance ti"
            " JOIN trigger t ON t.id = ti.trigger_id"
            " WHERE ti.dag_id = :'dag_id' AND ti.run_id = :'run_id'",
            dag_id=dag_id,
            run_id=run_id,
        )
        return {(task, int(index)): int(job) if job else None for task, index, job in rows}

    def holder_name(self, job_id: int | None) -> str | None:
        """The triggerer service whose job is ``job_id``."""
        return next((name for name, job in self.triggerer_jobs.items() if job == job_id), None)

    # -- processes --------------------------------------------------------------------------------

    def service_holding(self, pid: int) -> str | None:
        """Name of the service whose process tree contains ``pid`` (e.g. a task process)."""
        for name, service in self.services.items():
            try:
                root = psutil.Process(service.process.pid)
                tree = {root.pid, *(child.pid for child in root.children(recursive=True))}
            except psutil.NoSuchProcess:
                continue
            if pid in tree:
                return name
        return None

    def signal_tree(self, name: str, sig: signal.Signals) -> None:
        """Send ``sig`` to a service and every process below it (SIGSTOP / SIGCONT: a stall, as
        a long GC pause, CPU starvation or a hung call would cause)."""
        root = psutil.Process(self.services[name].process.pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(sig)
