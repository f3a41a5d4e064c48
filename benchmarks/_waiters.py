"""The waiting side of benchmark 2, run in a fresh worker process per pass.

Each flavour starts 1,000 waits in one event loop and lets them run for a fixed window
(benchmark 6 takes the same flavours through its phases at other sizes, see `_phases.py`):
- `airflow`: `CyberdeskRunTrigger`s rebuilt from their serialized kwargs (`cls(**kwargs)`) and
  iterated until their first event, as Airflow's triggerer does; the connection comes from
  `AIRFLOW_CONN_CYBERDESK_DEFAULT`.
- `prefect`: the integration's async wait task body, `await_cyberdesk_run.fn(...)`.
- `baseline`: what every anchor does, a naive loop per wait that builds its own client and
  GETs its run once per interval until it is terminal.
The worker reports its own CPU seconds, RSS before the waits and peak RSS during the window.
Before the window it imports what both sides of its engine use (`PRELOAD`), as a long-running
triggerer or worker has.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import psutil

RSS_SAMPLE_SECONDS = 0.1


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _import_class(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def airflow_waits(spec: dict[str, Any]) -> list[Callable[[], Awaitable[object]]]:
    """One coroutine factory per trigger, rebuilt from serialized kwargs."""
    from cyberdesk_airflow.triggers import CyberdeskRunTrigger

    serialized = [
        CyberdeskRunTrigger(
            run_id=t["run_id"],
            poll_interval=spec["interval"],
            workflow_id=t["workflow_id"],
            created_at=t["created_at"],
            live_steps=spec.get("live_steps", True),
        ).serialize()
        for t in spec["targets"]
    ]
    # The triggerer stores (classpath, kwargs) in its database and rebuilds each trigger.
    stored = json.loads(json.dumps(serialized))

    def make(classpath: str, kwargs: dict[str, Any]) -> Callable[[], Awaitable[object]]:
        async def first_event() -> object:
            trigger = _import_class(classpath)(**kwargs)
            async for event in trigger.run():
                return event
            return None

        return first_event

    return [make(classpath, kwargs) for classpath, kwargs in stored]


def prefect_waits(spec: dict[str, Any]) -> list[Callable[[], Awaitable[object]]]:
    """One `await_cyberdesk_run` task body per run."""
    from cyberdesk_prefect import CyberdeskCredentials, await_cyberdesk_run

    credentials = CyberdeskCredentials(api_key=spec["api_key"], base_url=spec["url"])

    def make(run_id: str) -> Callable[[], Awaitable[object]]:
        async def wait() -> object:
            return await await_cyberdesk_run.fn(
                credentials,
                run_id,
                poll_interval=spec["interval"],
                create_artifact=False,
                cancel_on_abandon=False,
                live_steps=spec.get("live_steps", True),
            )

        return wait

    return [make(t["run_id"]) for t in spec["targets"]]


def baseline_waits(spec: dict[str, Any]) -> list[Callable[[], Awaitable[object]]]:
    """A naive loop per run with its own client: one GET per interval until terminal.

    Like a naive Airflow trigger it looks its connection up once when it starts (Prefect tasks
    get their credentials block passed in). The clients share one TLS context built up front:
    loading the CA bundle per client (about 20 ms of CPU each) would dwarf the polling itself,
    so the baseline is given that saving.
    """
    from cyberdesk_core import AsyncCyberdeskClient

    tls = httpx.create_ssl_context()
    engine = spec["engine"]

    def make(run_id: str) -> Callable[[], Awaitable[object]]:
        async def poll() -> object:
            if engine == "airflow":
                from cyberdesk_airflow.hooks import CyberdeskHook

                await CyberdeskHook().aget_client_kwargs()
            transport = httpx.AsyncHTTPTransport(verify=tls)
            async with AsyncCyberdeskClient(
                spec["api_key"], base_url=spec["url"], transport=transport
            ) as client:
                # Benchmark 6 learns when every loop has polled once (its start-up is over).
                first_poll: Callable[[], None] | None = spec.get("on_first_poll")
                while True:
                    run = await client.runs.get(run_id)
                    if first_poll is not None:
                        first_poll()
                        first_poll = None
                    if run.status.is_terminal:
                        return run
                    await asyncio.sleep(spec["interval"])

        return poll

    return [make(t["run_id"]) for t in spec["targets"]]


FLAVOURS: dict[str, Callable[[dict[str, Any]], list[Callable[[], Awaitable[object]]]]] = {
    "airflow": airflow_waits,
    "airflow-quiet": airflow_waits,
    "prefect": prefect_waits,
    "prefect-quiet": prefect_waits,
    "baseline": baseline_waits,
}


async def warm_names(spec: dict[str, Any]) -> None:
    """List the workflow and machine names live steps print, as a worker that has been up a
    while has them (once per process and hour: start-up, not the cost of 1,000 waits)."""
    from cyberdesk_core import AsyncCyberdeskClient
    from cyberdesk_core.run_names import NAMES

    async with AsyncCyberdeskClient(spec["api_key"], base_url=spec["url"]) as client:
        await NAMES.names_of(client, spec["targets"][0]["workflow_id"], "warm-up")


async def run_window(spec: dict[str, Any]) -> dict[str, Any]:
    """Start every wait, sample RSS until the window closes, cancel what is left."""
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    full_gc_before = gc.get_stats()[2]["collections"]
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    factories = FLAVOURS[spec["flavour"]](spec)
    tasks = [asyncio.ensure_future(factory()) for factory in factories]
    peak = rss_before
    deadline = started + spec["window"]
    while time.perf_counter() < deadline:
        peak = max(peak, proc.memory_info().rss)
        await asyncio.sleep(RSS_SAMPLE_SECONDS)
    done = [t for t in tasks if t.done()]
    failed = [t for t in done if not t.cancelled() and t.exception() is not None]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "cpu_seconds": _cpu_seconds() - cpu_before,
        "rss_before": rss_before,
        "rss_peak": max(peak, proc.memory_info().rss),
        "finished": len(done) - len(failed),
        "failed": len(failed),
        "first_error": repr(failed[0].exception()) if failed else None,
        "full_gc": gc.get_stats()[2]["collections"] - full_gc_before,
    }


# What each side imports on first use, loaded before the window in every pass of an engine
# (ours and the baseline alike): a triggerer or worker that has been up for a while has long
# imported them, and an import inside the window would be a one-off start-up cost, not load.
PRELOAD: dict[str, tuple[str, ...]] = {
    "airflow": (
        "cyberdesk_airflow.triggers",
        "cyberdesk_airflow.hooks",
        # Airflow's async connection lookup imports these on first use.
        "airflow.sdk.execution_time.supervisor",
        "airflow.sdk.execution_time.cache",
        "airflow.sdk.definitions.connection",
        "asgiref.sync",
        "multiprocessing",
    ),
    "prefect": (
        "cyberdesk_prefect.run_workflow",
        # `from prefect import task` loads prefect.main (and sets up Prefect's logging).
        "prefect.main",
    ),
}
BASELINE_PRELOAD = ("cyberdesk_core", "cyberdesk_core.aclient", "anyio._backends._asyncio")


def preload(engine: str) -> None:
    """Import the modules both sides of `engine` use (see `PRELOAD`)."""
    for module in (*PRELOAD[engine], *BASELINE_PRELOAD):
        importlib.import_module(module)


def worker(engine: str, flavour: str) -> None:
    """Import everything, say READY, read the spec from stdin, run the window, print JSON.

    The flavour `warmup` only imports (filling the bytecode cache) and exits.
    """
    preload(engine)
    if flavour == "warmup":
        return
    print("READY", flush=True)
    spec = json.loads(sys.stdin.readline())
    spec["engine"] = engine
    spec["flavour"] = flavour
    spec["live_steps"] = not flavour.endswith("-quiet")
    if flavour in ("airflow", "prefect"):
        asyncio.run(warm_names(spec))
    loaded = set(sys.modules)
    # Start from a collected heap: when the last full collection happened during the imports
    # is an accident of start-up, and it decides how soon the next one comes (Python runs one
    # once the objects promoted since exceed a quarter of those that survived the last).
    gc.collect()
    result = asyncio.run(run_window(spec))
    # Reported so that a one-off import inside the window shows up (it should stay empty).
    result["imported_in_window"] = sorted(set(sys.modules) - loaded)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    worker(sys.argv[1], sys.argv[2])
