"""Bearer-key authentication and organization-scoped lookups (foreign ids are 404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .runtime import Emulator
from .state import Attachment, Machine, Organization, Pool, Run, Workflow

_bearer = HTTPBearer(auto_error=False, description="Cyberdesk API key: `Bearer cd_...`")


def get_emulator(request: Request) -> Emulator:
    """The emulator runtime bound to the application."""
    emu: Emulator = request.app.state.emulator
    return emu


def get_org(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Organization:
    """The organization of the request's API key, or 401."""
    emu = get_emulator(request)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status_code=401,
            detail="Missing API key: send 'Authorization: Bearer <API_KEY>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    org = emu.store.org_for_key(credentials.credentials)
    if org is None:
        raise HTTPException(
            status_code=401, detail="Invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )
    return org


OrgDep = Annotated[Organization, Depends(get_org)]
EmuDep = Annotated[Emulator, Depends(get_emulator)]


def _not_found(kind: str, object_id: object) -> HTTPException:
    return HTTPException(status_code=404, detail=f"{kind} {object_id} not found")


def find_workflow(emu: Emulator, org: Organization, workflow_id: object) -> Workflow:
    """Workflow of the org or 404."""
    workflow = emu.store.workflows.get(str(workflow_id))
    if workflow is None or workflow.org_id != org.id:
        raise _not_found("Workflow", workflow_id)
    return workflow


def find_machine(emu: Emulator, org: Organization, machine_id: object) -> Machine:
    """Machine of the org or 404."""
    machine = emu.store.machines.get(str(machine_id))
    if machine is None or machine.org_id != org.id:
        raise _not_found("Machine", machine_id)
    return machine


def find_pool(emu: Emulator, org: Organization, pool_id: object) -> Pool:
    """Pool of the org or 404."""
    pool = emu.store.pools.get(str(pool_id))
    if pool is None or pool.org_id != org.id:
        raise _not_found("Pool", pool_id)
    return pool


def find_run(emu: Emulator, org: Organization, run_id: object) -> Run:
    """Run of the org or 404."""
    run = emu.store.runs.get(str(run_id))
    if run is None or run.org_id != org.id:
        raise _not_found("Run", run_id)
    return run


def find_attachment(emu: Emulator, org: Organization, attachment_id: object) -> Attachment:
    """Attachment of the org or 404."""
    att = emu.store.attachments.get(str(attachment_id))
    if att is None or att.org_id != org.id:
        raise _not_found("Run attachment", attachment_id)
    return att


def find_session(emu: Emulator, org: Organization, session_id: object) -> str:
    """A session id known to the org or 404."""
    sid = str(session_id)
    if not emu.store.session_exists(org.id, sid):
        raise _not_found("Session", session_id)
    return sid
