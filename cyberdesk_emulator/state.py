"""In-memory records, their indexes and the secrets vault.

Everything is mutated only from the server's event loop, so no locks are needed. Sensitive
values never live on a record: records hold vault aliases, the :class:`Vault` holds plaintext.
Attachment content is not a record field either: records point at a :class:`Blob` of the
:class:`BlobStore` (large content lives in files).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .behaviors import Behavior
from .blobs import Blob, BlobStore
from .schemas import RunStatus


def utcnow() -> datetime:
    """Current UTC time (aware)."""
    return datetime.now(timezone.utc)


def new_id() -> str:
    """A fresh UUID string."""
    return str(uuid.uuid4())


@dataclass
class WebhookEndpoint:
    """A receiver of ``run_complete`` events, signed with its ``whsec_`` secret."""

    url: str
    secret: str
    event_types: list[str] = field(default_factory=lambda: ["run_complete"])


@dataclass
class Organization:
    """A tenant: API keys and webhook endpoints."""

    id: str
    name: str
    api_keys: set[str] = field(default_factory=set)
    webhooks: list[WebhookEndpoint] = field(default_factory=list)


@dataclass
class Workflow:
    """A workflow; ``fields`` holds the pass-through wire attributes."""

    id: str
    org_id: str
    main_prompt: str
    behavior: Behavior
    fields: dict[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    old_versions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Pool:
    """A named group of machines with default parameters."""

    id: str
    org_id: str
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    sensitive_aliases: dict[str, str] | None = None
    machine_ids: set[str] = field(default_factory=set)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class Machine:
    """A simulated desktop. ``busy_run_id`` is the run holding it right now."""

    id: str
    org_id: str
    unkey_key_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    status: str = "connected"
    is_available: bool = True
    alerts_enabled: bool = False
    reserved_session_id: str | None = None
    parameters: dict[str, Any] | None = None
    sensitive_aliases: dict[str, str] | None = None
    pool_ids: set[str] = field(default_factory=set)
    busy_run_id: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    last_seen: datetime = field(default_factory=utcnow)


@dataclass
class Attachment:
    """A stored file of a run (its content is ``blob``, possibly shared with other runs)."""

    id: str
    org_id: str
    run_id: str
    filename: str
    content_type: str
    attachment_type: str
    blob: Blob
    target_path: str | None = None
    cleanup_imports_after_run: bool = False
    expires_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class Run:
    """A run record (no plaintext secrets: see :class:`Vault`)."""

    id: str
    org_id: str
    workflow_id: str
    status: RunStatus = RunStatus.scheduling
    machine_id: str | None = None
    requested_machine_id: str | None = None
    is_priority: bool = False
    input_values: dict[str, Any] | None = None
    main_prompt: str | None = None
    model_metadata: dict[str, Any] | None = None
    pool_ids: list[str] | None = None
    sensitive_input_aliases: dict[str, str] | None = None
    session_id: str | None = None
    session_alias: str | None = None
    release_session_after: bool | None = None
    error: list[str] | None = None
    output_data: dict[str, Any] | None = None
    input_attachment_ids: list[str] = field(default_factory=list)
    output_attachment_ids: list[str] = field(default_factory=list)
    run_message_history: list[dict[str, Any]] | None = None
    usage_metadata: dict[str, Any] | None = None
    post_run_checks: list[dict[str, Any]] | None = None
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    queue_seq: int = 0


class Vault:
    """Plaintext secrets by opaque alias, outside every run/machine/pool record."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Vault(entries={len(self._values)})"

    def store_all(self, values: dict[str, Any]) -> dict[str, str]:
        """Store every value; return ``key -> alias``."""
        aliases: dict[str, str] = {}
        for key, value in values.items():
            alias = f"vault_{uuid.uuid4().hex}"
            self._values[alias] = value
            aliases[key] = alias
        return aliases

    def resolve(self, aliases: dict[str, str] | None) -> dict[str, Any]:
        """``key -> plaintext`` for the aliases still held."""
        if not aliases:
            return {}
        return {k: self._values[a] for k, a in aliases.items() if a in self._values}

    def delete(self, aliases: dict[str, str] | None) -> None:
        """Forget the given aliases."""
        for alias in (aliases or {}).values():
            self._values.pop(alias, None)

    def clear(self) -> None:
        """Forget everything."""
        self._values.clear()


class Store:
    """All records plus the indexes that keep list filtering cheap."""

    def __init__(self, blobs: BlobStore | None = None) -> None:
        self.blobs = blobs if blobs is not None else BlobStore()
        self.orgs: dict[str, Organization] = {}
        self.keys: dict[str, str] = {}
        self.workflows: dict[str, Workflow] = {}
        self.machines: dict[str, Machine] = {}
        self.pools: dict[str, Pool] = {}
        self.runs: dict[str, Run] = {}
        self.attachments: dict[str, Attachment] = {}
        self.vault = Vault()
        self.runs_by_org: dict[str, dict[str, None]] = {}
        self.runs_by_workflow: dict[str, dict[str, None]] = {}
        self.runs_by_session: dict[str, dict[str, None]] = {}
        self.finished: OrderedDict[str, None] = OrderedDict()
        self.session_holder: dict[str, str] = {}
        self._seq = 0

    # ------------------------------------------------------------ orgs
    def add_org(self, org_id: str, name: str, api_keys: list[str]) -> Organization:
        """Create (or extend) an organization and register its keys."""
        org = self.orgs.get(org_id) or Organization(id=org_id, name=name)
        self.orgs[org_id] = org
        for key in api_keys:
            org.api_keys.add(key)
            self.keys[key] = org_id
        return org

    def org_for_key(self, key: str | None) -> Organization | None:
        """The organization owning an API key."""
        if not key:
            return None
        org_id = self.keys.get(key)
        return self.orgs.get(org_id) if org_id else None

    # ------------------------------------------------------------ attachments
    def add_attachment(self, att: Attachment) -> Attachment:
        """Insert an attachment (the run's id lists are the caller's business)."""
        att.blob.acquire()
        self.attachments[att.id] = att
        return att

    def drop_attachment(self, att_id: str) -> Attachment | None:
        """Delete an attachment record; its file goes once no other attachment shares it."""
        att = self.attachments.pop(att_id, None)
        if att is not None:
            att.blob.release()
        return att

    def drop_run_attachments(self, run: Run, att_ids: list[str]) -> None:
        """Delete those of ``att_ids`` that belong to ``run`` (same run, same organization).

        A run's id lists are client-writable (``PATCH output_attachment_ids``): deleting or
        retrying a run must never delete a file of another run, let alone another organization.
        """
        for att_id in att_ids:
            att = self.attachments.get(att_id)
            if att is not None and att.run_id == run.id and att.org_id == run.org_id:
                self.drop_attachment(att_id)

    # ------------------------------------------------------------ runs
    def next_seq(self) -> int:
        """Monotonic queue sequence (FIFO order, session order)."""
        self._seq += 1
        return self._seq

    def add_run(self, run: Run) -> None:
        """Insert a run and index it."""
        run.queue_seq = self.next_seq()
        self.runs[run.id] = run
        self.runs_by_org.setdefault(run.org_id, {})[run.id] = None
        self.runs_by_workflow.setdefault(run.workflow_id, {})[run.id] = None
        if run.session_id:
            self.runs_by_session.setdefault(run.session_id, {})[run.id] = None

    def set_session(self, run: Run, session_id: str | None) -> None:
        """Move a run between session indexes."""
        if run.session_id:
            self.runs_by_session.get(run.session_id, {}).pop(run.id, None)
        run.session_id = session_id
        if session_id:
            self.runs_by_session.setdefault(session_id, {})[run.id] = None

    def remove_run(self, run_id: str) -> Run | None:
        """Delete a run, its attachments and its vault entries."""
        run = self.runs.pop(run_id, None)
        if run is None:
            return None
        self.runs_by_org.get(run.org_id, {}).pop(run_id, None)
        self.runs_by_workflow.get(run.workflow_id, {}).pop(run_id, None)
        if run.session_id:
            self.runs_by_session.get(run.session_id, {}).pop(run_id, None)
        self.finished.pop(run_id, None)
        self.drop_run_attachments(run, [*run.input_attachment_ids, *run.output_attachment_ids])
        self.vault.delete(run.sensitive_input_aliases)
        return run

    def session_runs(self, session_id: str) -> list[Run]:
        """Runs of a session in creation order."""
        ids = self.runs_by_session.get(session_id, {})
        return [self.runs[i] for i in ids if i in self.runs]

    def session_machine(self, session_id: str) -> Machine | None:
        """The machine currently reserved by a session."""
        machine_id = self.session_holder.get(session_id)
        return self.machines.get(machine_id) if machine_id else None

    def reserve(self, machine: Machine, session_id: str | None) -> None:
        """Set (or clear, with None) a machine's session reservation, keeping the index."""
        if machine.reserved_session_id:
            self.session_holder.pop(machine.reserved_session_id, None)
        machine.reserved_session_id = session_id
        if session_id:
            previous = self.session_machine(session_id)
            if previous is not None and previous is not machine:
                previous.reserved_session_id = None
            self.session_holder[session_id] = machine.id

    def session_exists(self, org_id: str, session_id: str) -> bool:
        """True when the session has runs in the org or reserves one of its machines."""
        if any(r.org_id == org_id for r in self.session_runs(session_id)):
            return True
        machine = self.session_machine(session_id)
        return machine is not None and machine.org_id == org_id

    def session_elsewhere(self, org_id: str, session_id: str) -> bool:
        """True when another organization has runs in the session or a machine holding it."""
        if any(r.org_id != org_id for r in self.session_runs(session_id)):
            return True
        machine = self.session_machine(session_id)
        return machine is not None and machine.org_id != org_id

    def mark_finished(self, run: Run, cap: int | None) -> list[str]:
        """Record a finished run; evict the oldest finished ones beyond ``cap``."""
        self.finished.pop(run.id, None)
        self.finished[run.id] = None
        evicted: list[str] = []
        while cap is not None and len(self.finished) > cap:
            old_id, _ = self.finished.popitem(last=False)
            self.remove_run(old_id)
            evicted.append(old_id)
        return evicted
