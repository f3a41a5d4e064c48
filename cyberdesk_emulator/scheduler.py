"""Machine matching and simulated execution, all inside the server's event loop.

Matching is a single pass over the waiting runs (priority queue first, then FIFO), triggered
with ``kick()`` whenever something that could change an assignment happens. Each assigned run
executes as one asyncio task that sleeps for its simulated duration (divided by ``time_scale``);
cancelling the run cancels the task and frees the machine at once.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .agent_steps import perform_steps, planned_steps
from .behaviors import Behavior, template_context
from .billing import usage_metadata
from .execution import effective_inputs, effective_secrets, produce
from .refs import RefError
from .schemas import RunStatus
from .state import Machine, Run, Store, new_id, utcnow
from .wire import iso, run_wire

if TYPE_CHECKING:
    from .runtime import Emulator

ACTIVE = (RunStatus.running, RunStatus.running_checks)


class Scheduler:
    """Queues of waiting runs, running execution tasks and the transitions between states."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self._queues: dict[str, tuple[dict[str, None], dict[str, None]]] = {}
        self._queued_org: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._skip: dict[str, asyncio.Event] = {}
        self._override: dict[str, str] = {}
        self._match_scheduled = False
        self._full_pass = False
        self._fresh: list[str] = []

    @property
    def store(self) -> Store:
        """The live store (replaced on admin reset)."""
        return self.emu.store

    # ------------------------------------------------------------ queueing
    def enqueue(self, run: Run) -> None:
        """Put a ``scheduling`` run in line for a machine (queues are per organization)."""
        self.dequeue(run.id)
        queues = self._queues.setdefault(run.org_id, ({}, {}))
        queues[0 if run.is_priority else 1][run.id] = None
        self._queued_org[run.id] = run.org_id
        self._fresh.append(run.id)
        self._schedule_match()

    def dequeue(self, run_id: str) -> None:
        """Take a run out of line."""
        org_id = self._queued_org.pop(run_id, None)
        if org_id is not None:
            for queue in self._queues.get(org_id, ()):
                queue.pop(run_id, None)

    def queue_position(self, run_id: str) -> int | None:
        """0-based position among the organization's waiting runs, or None."""
        org_id = self._queued_org.get(run_id)
        if org_id is None:
            return None
        priority, normal = self._queues[org_id]
        if run_id in priority:
            return list(priority).index(run_id)
        return len(priority) + list(normal).index(run_id)

    def kick(self) -> None:
        """Schedule a full matching pass (something other than a new run changed)."""
        self._full_pass = True
        self._schedule_match()

    def _schedule_match(self) -> None:
        """Run one matching pass soon on the running loop (coalesced)."""
        if self._match_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._match_scheduled = True
        loop.call_soon(self._match)

    def _usable(self, machine: Machine) -> bool:
        return (
            machine.status == "connected" and machine.is_available and machine.busy_run_id is None
        )

    def _match(self) -> None:
        self._match_scheduled = False
        full, self._full_pass = self._full_pass, False
        fresh, self._fresh = self._fresh, []
        store = self.store
        free_by_org: dict[str, dict[str, Machine]] = {}
        for machine in store.machines.values():
            if self._usable(machine):
                free_by_org.setdefault(machine.org_id, {})[machine.id] = machine
        if not full:
            # Only new runs arrived: after the previous pass no waiting run fitted any idle
            # machine, so checking the newcomers alone keeps priority/FIFO fairness.
            by_org: dict[str, dict[str, None]] = {}
            for run_id in fresh:
                org_id = self._queued_org.get(run_id)
                if org_id is not None and org_id in free_by_org:
                    by_org.setdefault(org_id, {})[run_id] = None
            for org_id, ids in by_org.items():
                priority, normal = self._queues[org_id]
                ordered = [i for i in ids if i in priority] + [i for i in ids if i in normal]
                self._match_queue(ordered, free_by_org[org_id])
            return
        # Only organizations with an idle machine are scanned: a backlog elsewhere costs nothing.
        for org_id, free in free_by_org.items():
            for queue in self._queues.get(org_id, ()):
                if not free:
                    break
                self._match_queue(list(queue), free)

    def _match_queue(self, run_ids: list[str], free: dict[str, Machine]) -> None:
        store = self.store
        heads: dict[str, str | None] = {}
        # Runs with the same placement as one that found no machine in this pass are skipped
        # cheaply (bulk runs share their placement).
        unplaceable: set[tuple[str | None, tuple[str, ...]]] = set()
        for run_id in run_ids:
            run = store.runs.get(run_id)
            if run is None or run.status != RunStatus.scheduling:
                self.dequeue(run_id)
                continue
            if run.session_id is not None:
                if run.session_id not in heads:
                    heads[run.session_id] = self._session_head(run.session_id)
                if heads[run.session_id] != run.id:
                    continue
                machine = self._pick(run, free)
            else:
                placement = (run.requested_machine_id, tuple(run.pool_ids or ()))
                if placement in unplaceable:
                    continue
                machine = self._pick(run, free)
                if machine is None:
                    unplaceable.add(placement)
            if machine is None:
                continue
            self.dequeue(run_id)
            del free[machine.id]
            if run.session_id is not None:
                heads[run.session_id] = None
            self._start(run, machine)
            if not free:
                return

    def _session_head(self, session_id: str) -> str | None:
        """The first non-terminal run of a session: session runs execute strictly in order."""
        for run in self.store.session_runs(session_id):
            if not run.status.is_terminal:
                return run.id
        return None

    def _pick(self, run: Run, free: dict[str, Machine]) -> Machine | None:
        if run.session_id:
            holder = self.store.session_machine(run.session_id)
            if holder is not None:
                return holder if holder.id in free else None
        candidates = (
            m for m in free.values() if m.org_id == run.org_id and m.reserved_session_id is None
        )
        if run.requested_machine_id:
            return next((m for m in candidates if m.id == run.requested_machine_id), None)
        if run.pool_ids:
            wanted = set(run.pool_ids)
            return next((m for m in candidates if wanted <= m.pool_ids), None)
        return next(candidates, None)

    # ------------------------------------------------------------ execution
    def _start(self, run: Run, machine: Machine) -> None:
        now = utcnow()
        run.status = RunStatus.running
        run.machine_id = machine.id
        run.started_at = now
        machine.busy_run_id = run.id
        machine.last_seen = now
        if run.session_id and self.store.session_machine(run.session_id) is None:
            self.store.reserve(machine, run.session_id)
        self._skip[run.id] = asyncio.Event()
        self._tasks[run.id] = asyncio.get_running_loop().create_task(self._execute(run.id))

    async def _wait(self, run_id: str, simulated_seconds: float) -> bool:
        """Sleep the scaled time; True when "finish now" cut it short."""
        delay = simulated_seconds / self.emu.settings.time_scale
        event = self._skip.get(run_id)
        if event is None:
            await asyncio.sleep(delay)
            return False
        try:
            await asyncio.wait_for(event.wait(), timeout=delay)
        except asyncio.TimeoutError:
            return False
        # "Finish now" skips one phase: the post-run checks wait again for their own signal.
        event.clear()
        return True

    async def _execute(self, run_id: str) -> None:
        store = self.store
        run = store.runs[run_id]
        workflow = store.workflows.get(run.workflow_id)
        machine = store.machines.get(run.machine_id or "")
        behavior = workflow.behavior if workflow is not None else Behavior()
        try:
            inputs = effective_inputs(store, run, machine)
        except RefError as exc:
            self.finish(run, RunStatus.error, errors=[str(exc)])
            return
        context = template_context(
            inputs,
            effective_secrets(store, run, machine),
            {k: run_wire(run)[k] for k in ("id", "workflow_id", "session_id", "session_alias")},
            {"id": machine.id, "name": machine.fields.get("name")} if machine else {},
            {"id": run.workflow_id, "name": workflow.fields.get("name") if workflow else None},
        )
        outcome = behavior.pick_outcome(self.emu.rng)
        prompt = run.main_prompt or (workflow.main_prompt if workflow is not None else "")

        async def wait(seconds: float) -> bool:
            return await self._wait(run_id, seconds)

        try:
            steps = planned_steps(behavior, prompt)
            await perform_steps(run, steps, context, behavior.pick_duration(self.emu.rng), wait)
            outcome = self._override.pop(run_id, outcome)
            produce(store, run, behavior, outcome, inputs, context)
        except ValueError as exc:
            self.finish(run, RunStatus.error, errors=[f"Behaviour template error: {exc}"])
            return
        final = RunStatus(outcome)
        if behavior.checks_duration > 0:
            final = await self._run_checks(run, behavior, final)
        self.finish(run, final)

    async def _run_checks(self, run: Run, behavior: Behavior, final: RunStatus) -> RunStatus:
        run.status = RunStatus.running_checks
        check: dict[str, Any] = {
            "id": new_id(),
            "name": "Emulated post-run check",
            "type": "output_data_passes_schema_validation",
            "status": "running",
            "started_at": iso(utcnow()),
        }
        run.post_run_checks = [check]
        if not run.session_id:
            # Standalone runs hand their machine back before checks run.
            self._free_machine(run)
            self.kick()
        await self._wait(run.id, behavior.checks_duration)
        passed = behavior.checks_outcome == "success"
        check.update(status="success" if passed else "failed", ended_at=iso(utcnow()))
        if passed or final != RunStatus.success:
            return final
        check["error_message"] = "Emulated post-run check failed"
        run.error = ["Post-run check 'Emulated post-run check' failed"]
        return RunStatus(behavior.checks_outcome)

    # ------------------------------------------------------------ transitions
    def _stop_task(self, run_id: str) -> None:
        task = self._tasks.pop(run_id, None)
        self._skip.pop(run_id, None)
        self._override.pop(run_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def _free_machine(self, run: Run) -> None:
        machine = self.store.machines.get(run.machine_id or "")
        if machine is not None and machine.busy_run_id == run.id:
            machine.busy_run_id = None

    def finish(self, run: Run, status: RunStatus, *, errors: list[str] | None = None) -> None:
        """Move a non-terminal run to a terminal status with every side effect."""
        if run.status.is_terminal:
            return
        self._stop_task(run.id)
        self.dequeue(run.id)
        run.status = status
        run.ended_at = utcnow()
        if errors:
            run.error = errors
        run.usage_metadata = usage_metadata(run)
        self._free_machine(run)
        if run.release_session_after and run.session_id:
            self.release_session(run.session_id)
        store = self.store
        # Run secrets live only for the duration of the run.
        store.vault.delete(run.sensitive_input_aliases)
        workflow = store.workflows.get(run.workflow_id)
        org = store.orgs.get(run.org_id)
        if workflow is not None and org is not None and workflow.fields.get("is_webhooks_enabled"):
            self.emu.webhooks.emit_run_complete(org, run_wire(run))
        store.mark_finished(run, self.emu.settings.max_finished_runs)
        self.kick()

    def forget(self, run: Run) -> None:
        """Stop a run's execution silently (used before deleting it)."""
        self._stop_task(run.id)
        self.dequeue(run.id)
        self._free_machine(run)
        self.kick()

    def release_session(self, session_id: str) -> None:
        """Clear a session's machine reservation."""
        machine = self.store.session_machine(session_id)
        if machine is not None:
            self.store.reserve(machine, None)
        self.kick()

    def clear_machine_session(self, machine: Machine) -> None:
        """``reserved_session_id: null``: cancel the session's waiting/active runs, free machine."""
        session_id = machine.reserved_session_id
        if machine.busy_run_id and machine.busy_run_id in self.store.runs:
            self.finish(self.store.runs[machine.busy_run_id], RunStatus.cancelled)
        if session_id:
            for run in self.store.session_runs(session_id):
                if run.status == RunStatus.scheduling:
                    self.finish(run, RunStatus.cancelled)
        self.store.reserve(machine, None)
        machine.is_available = True
        self.kick()

    def machine_deleted(self, machine: Machine) -> None:
        """End the machine's active and pinned runs; keep history with ``machine_id`` null."""
        message = [f"Machine {machine.id} was deleted"]
        if machine.busy_run_id and machine.busy_run_id in self.store.runs:
            self.finish(self.store.runs[machine.busy_run_id], RunStatus.error, errors=message)
        for run in list(self.store.runs.values()):
            if run.requested_machine_id == machine.id and run.status == RunStatus.scheduling:
                self.finish(run, RunStatus.error, errors=message)
            if run.machine_id == machine.id:
                run.machine_id = None
        self.store.reserve(machine, None)

    def is_executing(self, run_id: str) -> bool:
        """True while a simulated execution task exists for the run."""
        return run_id in self._tasks

    def finish_now(self, run_id: str, outcome: str | None = None) -> bool:
        """Skip the remaining simulated time of an executing run (optionally forcing an outcome)."""
        event = self._skip.get(run_id)
        if event is None:
            return False
        if outcome is not None:
            self._override[run_id] = outcome
        event.set()
        return True

    def stop_all(self) -> None:
        """Cancel every execution and empty the queues."""
        for run_id in list(self._tasks):
            self._stop_task(run_id)
        self._queues.clear()
        self._queued_org.clear()
        self._fresh.clear()

    async def shutdown(self) -> None:
        """Cancel executions and wait until their tasks are gone."""
        tasks = list(self._tasks.values())
        self.stop_all()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
