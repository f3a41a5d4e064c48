"""What a simulated machine does with a run: effective inputs, outputs and exported files."""

from __future__ import annotations

import mimetypes
from typing import Any

from cyberdesk_emulator.agent_steps import record_outcome
from cyberdesk_emulator.behaviors import Behavior, default_output, render
from cyberdesk_emulator.refs import has_refs, resolve_refs
from cyberdesk_emulator.state import Attachment, Machine, Run, Store, new_id


def safe_filename(name: str) -> str:
    """Basename without path separators (exported files never escape their folder)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base if base not in ("", ".", "..") else "file"


def effective_inputs(store: Store, run: Run, machine: Machine | None) -> dict[str, Any]:
    """Pool (only when ``pool_ids`` was given) < machine < run inputs, refs resolved."""
    merged: dict[str, Any] = {}
    for pool_id in run.pool_ids or []:
        pool = store.pools.get(pool_id)
        if pool is not None and pool.parameters:
            merged.update(pool.parameters)
    if machine is not None and machine.parameters:
        merged.update(machine.parameters)
    values = run.input_values or {}
    if has_refs(values):
        session = store.session_runs(run.session_id) if run.session_id else []
        values = resolve_refs(values, run, session)
    # Omitted/null/blank run values let machine and pool defaults fill in.
    merged.update({k: v for k, v in values.items() if v is not None and v != ""})
    return merged


def effective_secrets(store: Store, run: Run, machine: Machine | None) -> dict[str, Any]:
    """Sensitive values visible to the simulated agent: pool < machine < run (from the vault)."""
    merged: dict[str, Any] = {}
    for pool_id in run.pool_ids or []:
        pool = store.pools.get(pool_id)
        if pool is not None:
            merged.update(store.vault.resolve(pool.sensitive_aliases))
    if machine is not None:
        merged.update(store.vault.resolve(machine.sensitive_aliases))
    merged.update(store.vault.resolve(run.sensitive_input_aliases))
    return merged


def produce(
    store: Store,
    run: Run,
    behavior: Behavior,
    outcome: str,
    inputs: dict[str, Any],
    ctx: dict[str, Any],
) -> None:
    """Record the main execution's result: ``output_data`` and files, or the error message."""
    if outcome != "success":
        reason = str(render(behavior.error_message, ctx))
        run.error = [reason]
        record_outcome(run, outcome, reason)
        return
    record_outcome(run, outcome, None)
    output = default_output(inputs) if behavior.output is None else render(behavior.output, ctx)
    run.output_data = output if isinstance(output, dict) else {"result": output}
    for spec in behavior.files:
        name = safe_filename(str(render(spec.name, ctx)))
        content = render(spec.content, ctx)
        data = (content if isinstance(content, str) else str(content)).encode()
        ctype = spec.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        att = Attachment(
            id=new_id(),
            org_id=run.org_id,
            run_id=run.id,
            filename=name,
            content_type=ctype,
            attachment_type="output",
            blob=store.blobs.from_bytes(data),
        )
        store.add_attachment(att)
        run.output_attachment_ids.append(att.id)
