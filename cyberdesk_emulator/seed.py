"""Seed files (YAML or JSON): organizations, workflows with behaviours, machines, pools, webhooks.

Top-level ``workflows`` / ``machines`` / ``pools`` / ``webhooks`` belong to the default
organization (the one of ``--api-key``); ``organizations`` adds more tenants, each with the same
keys nested. Machines name their pools by pool ``name`` or ``id``. See README.md for an example.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .behaviors import Behavior
from .faults import FaultConfig
from .limits import parse_size
from .runtime import DEFAULT_ORG_ID, Emulator
from .schemas import MachineStatus
from .signing import check_webhook_secret, new_webhook_secret
from .state import Machine, Organization, Pool, WebhookEndpoint, new_id
from .strict_json import find_unstorable


class _Strict(BaseModel):
    # Seeds carry secrets (webhook secrets, sensitive parameters): errors never show values.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class SeedWorkflow(_Strict):
    """A workflow to preload."""

    id: str | None = None
    name: str | None = None
    main_prompt: str = "Emulated workflow"
    input_schema: str | None = None
    output_schema: str | None = None
    includes_file_exports: bool = False
    is_webhooks_enabled: bool = False
    behavior: Behavior | None = None


class SeedPool(_Strict):
    """A pool to preload."""

    id: str | None = None
    name: str
    description: str | None = None
    pool_parameters: dict[str, Any] | None = None
    pool_sensitive_parameters: dict[str, Any] | None = None


class SeedMachine(_Strict):
    """A simulated machine to preload."""

    id: str | None = None
    name: str | None = None
    hostname: str | None = None
    version: str | None = None
    os_info: str | None = None
    unkey_key_id: str | None = None
    status: MachineStatus = MachineStatus.connected
    is_available: bool = True
    machine_parameters: dict[str, Any] | None = None
    machine_sensitive_parameters: dict[str, Any] | None = None
    pools: list[str] = Field(default_factory=list)


class SeedWebhook(_Strict):
    """A webhook endpoint (``secret`` is generated when omitted)."""

    url: str
    secret: str | None = None
    event_types: list[str] = Field(default_factory=lambda: ["run_complete"])

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        # Checked here: a URL the HTTP client cannot use would only fail inside a delivery.
        try:
            url = httpx.URL(value)
        except (httpx.InvalidURL, TypeError):
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise ValueError("url must be an absolute http:// or https:// URL")
        return value

    @field_validator("secret")
    @classmethod
    def _svix_secret(cls, value: str | None) -> str | None:
        return None if value is None else check_webhook_secret(value)


class SeedContent(_Strict):
    """Objects owned by one organization."""

    workflows: list[SeedWorkflow] = Field(default_factory=list)
    pools: list[SeedPool] = Field(default_factory=list)
    machines: list[SeedMachine] = Field(default_factory=list)
    webhooks: list[SeedWebhook] = Field(default_factory=list)


class SeedOrganization(SeedContent):
    """An extra organization with its API keys."""

    id: str | None = None
    name: str | None = None
    api_keys: list[str] = Field(min_length=1)


class SeedSettings(_Strict):
    """Start-up settings a seed file may carry (CLI flags win)."""

    time_scale: float | None = Field(default=None, gt=0)
    rng_seed: int | None = None
    max_finished_runs: int | None = Field(default=None, ge=0)
    max_body_bytes: int | None = None

    @field_validator("max_body_bytes", mode="before")
    @classmethod
    def _size(cls, value: object) -> object:
        # Bytes, or a size with a unit ("64MiB"), like --max-body-bytes.
        return parse_size(value) if isinstance(value, (int, str)) else value


class Seed(SeedContent):
    """A whole seed document."""

    settings: SeedSettings | None = None
    faults: FaultConfig | None = None
    organizations: list[SeedOrganization] = Field(default_factory=list)


def load_seed_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON seed file into a dict."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"seed file {path} must contain a mapping at the top level")
    return data


def _apply_content(emu: Emulator, org: Organization, content: SeedContent) -> dict[str, Any]:
    from .routes.workflows import add_workflow

    store = emu.store
    summary: dict[str, Any] = {"workflows": {}, "pools": {}, "machines": {}, "webhooks": []}
    for wf in content.workflows:
        fields = wf.model_dump(exclude={"behavior"})
        workflow = add_workflow(emu, org, fields, wf.behavior)
        summary["workflows"][wf.name or workflow.id] = workflow.id
    pools_by_ref: dict[str, Pool] = {
        ref: p for p in store.pools.values() if p.org_id == org.id for ref in (p.id, p.name)
    }
    for sp in content.pools:
        pool = Pool(
            id=sp.id or new_id(),
            org_id=org.id,
            name=sp.name,
            description=sp.description,
            parameters=sp.pool_parameters,
        )
        if sp.pool_sensitive_parameters is not None:
            pool.sensitive_aliases = store.vault.store_all(sp.pool_sensitive_parameters)
        store.pools[pool.id] = pool
        pools_by_ref[pool.id] = pools_by_ref[pool.name] = pool
        summary["pools"][pool.name] = pool.id
    for sm in content.machines:
        machine = Machine(
            id=sm.id or new_id(),
            org_id=org.id,
            unkey_key_id=sm.unkey_key_id or f"key_{new_id()[:8]}",
            fields={
                "name": sm.name,
                "hostname": sm.hostname,
                "version": sm.version,
                "os_info": sm.os_info,
            },
            status=sm.status.value,
            is_available=sm.is_available,
            parameters=sm.machine_parameters,
        )
        if sm.machine_sensitive_parameters is not None:
            machine.sensitive_aliases = store.vault.store_all(sm.machine_sensitive_parameters)
        for ref in sm.pools:
            if ref not in pools_by_ref:
                raise ValueError(f"machine {sm.name or machine.id} names unknown pool {ref!r}")
            pools_by_ref[ref].machine_ids.add(machine.id)
            machine.pool_ids.add(pools_by_ref[ref].id)
        store.machines[machine.id] = machine
        summary["machines"][sm.name or machine.id] = machine.id
    for hook in content.webhooks:
        endpoint = WebhookEndpoint(
            url=hook.url, secret=hook.secret or new_webhook_secret(), event_types=hook.event_types
        )
        org.webhooks.append(endpoint)
        summary["webhooks"].append({"url": endpoint.url, "secret": endpoint.secret})
    return summary


def seed_errors(exc: ValidationError) -> str:
    """One line per error, ``field.path: message``, without the submitted values."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or '<document>'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    )


def _validated(data: dict[str, Any]) -> Seed:
    """The parsed document; ``ValueError`` naming the field for anything unusable."""
    problem = find_unstorable(data)
    if problem is not None:
        where = ".".join(str(p) for p in problem["loc"]) or "<document>"
        raise ValueError(f"seed {where}: {problem['msg']}")
    try:
        return Seed.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"invalid seed: {seed_errors(exc)}") from None


def apply_seed(emu: Emulator, data: dict[str, Any]) -> dict[str, Any]:
    """Add a seed document's objects to a running emulator; returns the ids created.

    Raises ``ValueError`` naming the field on a malformed document (never echoing values).
    """
    seed = _validated(data)
    store = emu.store
    summary: dict[str, Any] = {"organizations": {}}
    default_org = store.orgs[DEFAULT_ORG_ID]
    summary[DEFAULT_ORG_ID] = _apply_content(emu, default_org, seed)
    for so in seed.organizations:
        clash = [k for k in so.api_keys if k in store.keys and store.keys[k] != so.id]
        if clash:
            raise ValueError("an API key of a seeded organization is already in use")
        org = store.add_org(so.id or f"org_{new_id()[:8]}", so.name or "Organization", so.api_keys)
        summary["organizations"][so.name or org.id] = org.id
        summary[org.id] = _apply_content(emu, org, so)
    if seed.faults is not None:
        emu.faults.configure(seed.faults)
    emu.scheduler.kick()
    return summary


def seed_settings(data: dict[str, Any]) -> SeedSettings:
    """The ``settings`` section of a seed document (defaults when absent)."""
    return _validated(data).settings or SeedSettings()
