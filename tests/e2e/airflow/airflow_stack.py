"""Real Airflow services (api-server, scheduler, dag-processor, triggerer) as child processes.

Each service runs in its own process group with its output in a log file. Every process of the
stack, task runners included (Airflow puts those in process groups of their own), inherits a marker
environment variable, so teardown can find and kill all of them and then prove that none is left.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
import psutil
from airflow_env import MARKER

T = TypeVar("T")

AIRFLOW = Path(sys.executable).with_name("airflow")
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_TIMEOUT = 120.0
#: Trigger log of a mapped task's first try: ``map_index=<i>/attempt=1.log.trigger.<job id>.log``.
MAPPED_TRIGGER_LOG = re.compile(r"map_index=(\d+)/attempt=1\.log\.trigger\.(\d+)\.log")
STOP_GRACE = 15.0


def poll_until(
    check: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.5
) -> T:
    """Call ``check`` until it returns a truthy value; fail naming ``what`` after ``timeout``.

    Transport errors count as "not yet" (a service may be restarting); the last value or error is
    shown in the failure message.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
        except httpx.TransportError as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"Timed out after {timeout:.0f}s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)


@dataclass
class Service:
    """One started service: its command name, process and log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass
class MemoryPeak:
    """Largest total memory of the stack seen by the sampler (bytes)."""

    rss: int = 0
    pss: int = 0
    processes: int = 0


@dataclass
class AirflowStack:
    """The services of one Airflow installation, started and stopped by the test session.

    The process handling (start, crash, stop, marker search) serves other engines' stacks
    too: a subclass sets `program` (tests/e2e/distributed/prefect runs `prefect`).
    """

    #: The command-line program every service runs (`start` passes it the service's args).
    program: ClassVar[Path] = AIRFLOW
    home: Path
    env: dict[str, str]
    api_port: int
    services: dict[str, Service] = field(default_factory=dict)
    retired: list[Service] = field(default_factory=list)
    memory: MemoryPeak = field(default_factory=MemoryPeak)
    #: Processes outside the stack counted in its memory (e.g. its database and broker).
    sampled_pids: list[int] = field(default_factory=list)
    _sampler_stop: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None
    _starts: int = 0

    @property
    def api_url(self) -> str:
        """Base URL of the api-server."""
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def stack_id(self) -> str:
        """Marker value every process of this stack carries in its environment."""
        return self.env[MARKER]

    # -- lifecycle ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Create the metadata database (``airflow db migrate``)."""
        log = self.home / "service-logs" / "db-migrate.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            result = subprocess.run(
                [str(AIRFLOW), "db", "migrate"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=300,
                check=False,
            )
        if result.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{tail(log)}")

    def start(self, name: str, args: list[str] | None = None) -> Service:
        """Start one service in a new process group, logging to ``service-logs/<name>-<n>.log``.

        ``args`` (after ``airflow``) default by ``name``; pass them for a service of another name
        (a second triggerer, a Celery worker).
        """
        if args is None:
            args = {
                "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)],
                "scheduler": ["scheduler", "--skip-serve-logs"],
                "dag-processor": ["dag-processor"],
                "triggerer": ["triggerer", "--skip-serve-logs"],
            }[name]
        self._starts += 1
        log_path = self.home / "service-logs" / f"{name}-{self._starts}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [str(self.program), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, process, log_path)
        self.services[name] = service
        return service

    def start_all(self) -> None:
        """Start the four services and the memory sampler, then wait until all are healthy."""
        for name in SERVICES:
            self.start(name)
        self.start_sampler()
        self.wait_healthy()

    def start_sampler(self) -> None:
        """Start the thread that records the stack's peak memory (see :attr:`memory`)."""
        self._sampler = threading.Thread(target=self._sample_memory, daemon=True)
        self._sampler.start()

    def health(self) -> dict[str, Any]:
        """``GET /api/v2/monitor/health``."""
        response = httpx.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
        response.raise_for_status()
        return dict(response.json())

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> dict[str, Any]:
        """Wait until the metadatabase, scheduler, triggerer and dag-processor report healthy."""
        components = ("metadatabase", "scheduler", "triggerer", "dag_processor")

        def check() -> dict[str, Any] | None:
            self.assert_running()
            try:
                report = self.health()
            except httpx.HTTPStatusError:
                return None
            healthy = all(
                (report.get(part) or {}).get("status") == "healthy" for part in components
            )
            return report if healthy else None

        return poll_until(check, timeout=timeout, what="healthy Airflow services")

    def assert_running(self) -> None:
        """Fail with the log tail of any service that exited on its own."""
        for service in self.services.values():
            code = service.process.poll()
            if code is not None:
                raise RuntimeError(
                    f"{self.program.name} {service.name} exited with code {code}:\n"
                    f"{tail(service.log_path)}"
                )

    def crash(self, name: str) -> list[int]:
        """``kill -9`` a service and every process it started (as when its host dies).

        Returns the killed pids; the service is moved to ``retired``.
        """
        service = self.services.pop(name)
        root = psutil.Process(service.process.pid)
        victims = [root, *root.children(recursive=True)]
        for proc in victims:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(victims, timeout=10)
        service.process.wait(timeout=10)
        self.retired.append(service)
        return [proc.pid for proc in victims]

    def stop(self) -> list[str]:
        """Stop every service and kill whatever is left of the stack.

        SIGTERM to each process group first (graceful shutdown), SIGKILL after a grace period,
        then SIGKILL to any remaining process carrying the stack's marker (task runners live in
        process groups of their own). Returns descriptions of processes still alive afterwards
        (empty when the teardown is clean).
        """
        self._sampler_stop.set()
        running = [s for s in self.services.values() if s.process.poll() is None]
        for service in running:
            _signal_group(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for service in running:
            try:
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(service.process.pid, signal.SIGKILL)
                service.process.wait(timeout=10)
        for service in running:
            _signal_group(service.process.pid, signal.SIGKILL)
        leftovers = self.processes()
        for proc in leftovers:
            try:
                proc.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                continue
        psutil.wait_procs(leftovers, timeout=10)
        self.retired.extend(self.services.values())
        self.services.clear()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        return [_describe(proc) for proc in self.processes()]

    # -- inspection --------------------------------------------------------------------------

    def processes(self) -> list[psutil.Process]:
        """Every live process that belongs to this stack (found by its environment marker)."""
        found = []
        for proc in psutil.process_iter():
            if proc.pid == os.getpid():
                continue
            try:
                if proc.status() == psutil.STATUS_ZOMBIE:
                    continue
                if proc.environ().get(MARKER) == self.stack_id:
                    found.append(proc)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found

    def log(self, name: str) -> str:
        """Text of every log file written by the service ``name`` (all of its starts)."""
        paths = sorted((self.home / "service-logs").glob(f"{name}-*.log"))
        return "\n".join(path.read_text(errors="replace") for path in paths)

    def trigger_logs(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str]:
        """``{file name: text}`` of the trigger logs the triggerer wrote for a task's tries.

        The triggerer writes them next to the task's own log as ``attempt=<n>.log.trigger.<job
        id>.log`` (one per triggerer job that ran a trigger of that try; mapped tasks have a
        ``map_index=<i>`` folder level).
        """
        folder = self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        return {
            str(path.relative_to(folder)): path.read_text(errors="replace")
            for path in sorted(folder.rglob("*.log.trigger.*.log"))
        }

    def trigger_jobs(
        self, dag_id: str, run_id: str, task_id: str, needle: str
    ) -> dict[int, set[int]]:
        """``{map_index: {ids of the triggerer jobs whose log of the trigger of try 1 contains
        needle}}`` for a mapped task (from the trigger log files' names)."""
        found: dict[int, set[int]] = {}
        for name, text in self.trigger_logs(dag_id, run_id, task_id).items():
            match = MAPPED_TRIGGER_LOG.fullmatch(name)
            if match and needle in text:
                found.setdefault(int(match.group(1)), set()).add(int(match.group(2)))
        return found

    def trigger_output(self, dag_id: str, run_id: str, task_id: str) -> str:
        """Everything the triggerer logged for a task's triggers.

        That is the task's trigger log files plus the lines of the triggerer's own log about the
        task: Airflow writes a trigger's last lines there when it has already closed the
        trigger's file (the end of the trigger and its log lines travel on different channels).
        """
        files = list(self.trigger_logs(dag_id, run_id, task_id).values())
        service = [
            line
            for line in self.log("triggerer").splitlines()
            if run_id in line and (f"/{task_id}/" in line or f"task_id={task_id} " in line)
        ]
        return "\n".join([*files, *service])

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of every service log, for failure reports."""
        paths = sorted((self.home / "service-logs").glob("*.log"))
        return "\n".join(f"==== {path.name}\n{tail(path, lines)}" for path in paths)

    def _sample_memory(self) -> None:
        # Sum over the service trees (task runners included): RSS double-counts pages shared
        # after fork, PSS splits them fairly; both are reported.
        while not self._sampler_stop.wait(1.0):
            pids = [s.process.pid for s in list(self.services.values())]
            procs = list(_trees([*pids, *self.sampled_pids]))
            rss = pss = 0
            for proc in procs:
                try:
                    info = proc.memory_full_info()
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            if pss > self.memory.pss:
                self.memory.pss = pss
            if rss > self.memory.rss:
                self.memory.rss = rss
            self.memory.processes = max(self.memory.processes, len(procs))


def _trees(pids: Iterable[int]) -> Iterable[psutil.Process]:
    for pid in pids:
        try:
            root = psutil.Process(pid)
            yield root
            yield from root.children(recursive=True)
        except psutil.NoSuchProcess:
            continue


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return


def _describe(proc: psutil.Process) -> str:
    try:
        return f"pid {proc.pid}: {' '.join(proc.cmdline())[:200]}"
    except psutil.Error:
        return f"pid {proc.pid}"


def tail(path: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of a text file (empty when it does not exist)."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
