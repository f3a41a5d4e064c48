"""`RunNarrator` against the emulator over loopback: names, live steps, their cost, no secrets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from cyberdesk_core import AsyncCyberdeskClient, RunNarrator, RunWatcher
from cyberdesk_core.models import Run
from cyberdesk_core.run_names import NameBook

pytest.importorskip("cyberdesk_emulator")

WORKFLOW = "00000000-0000-4000-8000-0000000000cd"
SECRET = "pa55-narrated-77"
GET_RUN = "GET /v1/runs/{run_id}"
STEPS = [
    {"text": f"Step {n} of the export", "tool": "computer",
     "tool_input": {"action": "left_click", "target": f"Button {n}"}}
    for n in range(1, 7)
] + [{"text": "Log in", "tool": "computer",
      "tool_input": {"action": "type", "text": "{{ secrets.password }}"}}]  # fmt: skip
SEED = {
    "workflows": [
        {
            "id": WORKFLOW,
            "name": "Month-end export",
            # 140 simulated seconds at time scale 40: 3.5 s, a step about every 0.45 s.
            "behavior": {"duration": 140, "outcome": "success", "steps": STEPS},
        }
    ],
    "machines": [{"name": "FIN-DESK-01"}] * 6,
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Any]:
    from cyberdesk_emulator import EmulatorServer

    with EmulatorServer(seed=SEED, time_scale=40.0) as emu:
        yield emu


async def _narrated_wait(emulator: Any, narrator: RunNarrator) -> tuple[Run, list[str]]:
    client = AsyncCyberdeskClient(api_key=emulator.api_key, base_url=emulator.url)
    run = await client.runs.create(
        WORKFLOW, sensitive_input_values={"password": SECRET}, input_values={"month": "11"}
    )
    # A second run of the workflow: the watcher lists them together, so every GET of a run
    # counted below is the narrator's.
    companion = await client.runs.create(WORKFLOW)
    emulator.admin.reset_stats()
    watcher = RunWatcher(client, poll_interval=0.1)
    try:
        done, _ = await asyncio.gather(
            watcher.wait(
                run.id, workflow_id=WORKFLOW, created_at=run.created_at, narrator=narrator
            ),
            watcher.wait(companion.id, workflow_id=WORKFLOW, created_at=companion.created_at),
        )
    finally:
        await watcher.aclose()
        await client.aclose()
    return done, []


def test_steps_appear_while_the_run_goes_on_with_names_and_no_secret(emulator: Any) -> None:
    lines: list[tuple[str, bool]] = []
    ended: list[bool] = [False]
    narrator = RunNarrator(
        lambda line: lines.append((line, ended[0])),
        step_interval=0.5,
        secrets={"password": SECRET},
        names=NameBook(),
    )

    async def main() -> Run:
        run, _ = await _narrated_wait(emulator, narrator)
        ended[0] = True
        return run

    run = asyncio.run(main())
    text = "\n".join(line for line, _ in lines)
    assert run.status == "success"
    live = [line for line, after in lines if " step " in line and not after]
    assert len(live) >= 2, text  # several steps were written before the run ended
    numbers = [int(line.split(" step ")[1].split(":")[0]) for line, _ in lines if " step " in line]
    assert numbers == sorted(set(numbers))  # each step at most once, in order
    assert "clicked 'Button 1'" in text or "steps 1-" in text
    assert "workflow 'Month-end export' (" + WORKFLOW + ")" in text
    assert "machine 'FIN-DESK-01' (" in text
    assert "[success]" in lines[-1][0]
    assert SECRET not in text
    # The history was read a few times, not at every one of the ~35 ticks.
    assert 1 <= narrator.history_reads <= 8, narrator.history_reads
    assert emulator.admin.stats()["requests_by_route"].get(GET_RUN, 0) <= 8 + 5


def test_without_live_steps_the_history_is_never_read(emulator: Any) -> None:
    lines: list[str] = []
    narrator = RunNarrator(lines.append, live_steps=False, step_interval=0.0, names=NameBook())
    run, _ = asyncio.run(_narrated_wait(emulator, narrator))
    assert run.status == "success"
    assert narrator.history_reads == 0
    assert not [line for line in lines if " step " in line]
    assert [line.split("[")[1].split("]")[0] for line in lines][-1] == "success"


def test_a_run_shorter_than_the_step_interval_costs_no_history_read(emulator: Any) -> None:
    narrator = RunNarrator(lambda line: None, step_interval=60.0, names=NameBook())
    asyncio.run(_narrated_wait(emulator, narrator))
    assert narrator.history_reads == 0


def test_many_narrators_share_a_per_tick_budget_of_history_reads(emulator: Any) -> None:
    async def main() -> tuple[int, int]:
        client = AsyncCyberdeskClient(api_key=emulator.api_key, base_url=emulator.url)
        runs = [await client.runs.create(WORKFLOW) for _ in range(6)]
        emulator.admin.reset_stats()
        watcher = RunWatcher(client, poll_interval=0.25)
        watcher.history_budget = 1
        narrators = [RunNarrator(lambda line: None, step_interval=0.0) for _ in runs]
        try:
            await asyncio.gather(
                *(
                    watcher.wait(r.id, workflow_id=WORKFLOW, created_at=r.created_at, narrator=n)
                    for r, n in zip(runs, narrators, strict=True)
                )
            )
        finally:
            await watcher.aclose()
            await client.aclose()
        return sum(1 for n in narrators if n.history_reads), sum(n.history_reads for n in narrators)

    followed, reads = asyncio.run(main())
    lists = emulator.admin.stats()["requests_by_route"].get("GET /v1/runs", 0)
    assert reads <= lists, (reads, lists)  # never more than the budget per tick
    assert followed >= 4  # oldest-read first: the budget goes round the runs


def test_a_run_read_with_get_brings_its_steps_without_another_request(emulator: Any) -> None:
    async def main() -> tuple[list[str], int]:
        lines: list[str] = []
        client = AsyncCyberdeskClient(api_key=emulator.api_key, base_url=emulator.url)
        run = await client.runs.create(WORKFLOW)
        emulator.admin.reset_stats()
        watcher = RunWatcher(client, poll_interval=0.2)
        narrator = RunNarrator(lines.append, step_interval=3600.0, names=NameBook())
        try:
            await watcher.wait(run.id, narrator=narrator)  # no hints: read with GET
        finally:
            await watcher.aclose()
            await client.aclose()
        return lines, emulator.admin.stats()["requests_by_route"].get(GET_RUN, 0)

    lines, gets = asyncio.run(main())
    assert len([line for line in lines if " step " in line]) >= 7
    assert gets <= 40  # the watcher's own polls (3.5 s at 0.2 s), nothing added


def test_names_of_many_machines_cost_one_listing_per_kind(emulator: Any) -> None:
    async def main() -> list[Any]:
        book = NameBook()
        async with AsyncCyberdeskClient(api_key=emulator.api_key, base_url=emulator.url) as c:
            machines = (await c.machines.list()).items
            emulator.admin.reset_stats()
            found = await asyncio.gather(*(book.names_of(c, WORKFLOW, m.id) for m in machines))
            # Ids not in a listing made a moment ago do not list again (RELIST_AFTER).
            unknown = await book.names_of(c, "00000000-0000-4000-8000-00000000dead", None)
            again = await book.names_of(c, "00000000-0000-4000-8000-00000000beef", None)
        return [found, unknown, again, book.listings]

    found, unknown, again, listings = asyncio.run(main())
    assert {n.machine for n in found} == {"FIN-DESK-01"}
    assert {n.workflow for n in found} == {"Month-end export"}
    assert unknown.workflow is None
    assert again.workflow is None
    routes = emulator.admin.stats()["requests_by_route"]
    assert routes.get("GET /v1/machines") == 1
    assert routes.get("GET /v1/workflows") == 1
    assert listings == 2


def test_a_workflow_created_after_the_listing_is_named_once_the_listing_is_old() -> None:
    now = [0.0]
    book = NameBook(clock=lambda: now[0])
    listed: list[str] = []

    class Workflows:
        async def list(self, skip: int, limit: int) -> Any:
            listed.append("workflows")
            items = [type("W", (), {"id": i, "name": n}) for i, n in names]
            return type("P", (), {"items": items, "total": len(items)})

    class Client:
        base_url = "https://api.example"
        workflows = Workflows()

    names = [("a", "Export")]
    client: Any = Client()
    assert asyncio.run(book.names_of(client, "a", None)).workflow == "Export"
    names.append(("b", "Import"))
    assert asyncio.run(book.names_of(client, "b", None)).workflow is None  # listed just now
    now[0] = 31.0
    assert asyncio.run(book.names_of(client, "b", None)).workflow == "Import"  # relisted
    assert asyncio.run(book.names_of(client, "z", None)).workflow is None  # listed just now
    now[0] = 62.0
    assert asyncio.run(book.names_of(client, "z", None)).workflow is None  # relisted: missing
    now[0] = 100.0
    assert asyncio.run(book.names_of(client, "z", None)).workflow is None  # kept 300 s
    assert listed == ["workflows"] * 3


def test_names_are_paged_by_the_total_when_a_server_caps_the_page_size() -> None:
    class Machines:
        calls: list[int] = []

        async def list(self, skip: int, limit: int) -> Any:
            self.calls.append(skip)
            chunk = [type("M", (), {"id": f"m{i}", "name": f"desk-{i}"}) for i in range(5)]
            return type("P", (), {"items": chunk[skip : skip + 2], "total": 5})  # capped at 2

    class Client:
        base_url = "https://api.example"
        machines = Machines()

    client: Any = Client()
    assert asyncio.run(NameBook().names_of(client, None, "m4")).machine == "desk-4"
    assert Machines.calls == [0, 2, 4]
