"""Secrets canary of the Airflow end-to-end suites: the canaries, the canary DAG run and the
search for them (used by the single-machine and the distributed suite).

The search reuses the reliability suites' helpers (``reliability_support``: byte search of files,
table dumps of SQLite databases) and adds what only a real installation has: trigger rows, whose
kwargs Airflow stores Fernet-encrypted (searched after decryption, so encryption at rest cannot
hide a secret the product put there), and the temp files the services wrote outside the test's
folders.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType

from airflow_api import FINISHED_RUN_STATES, AirflowApi
from airflow_stack import AirflowStack, poll_until
from cryptography.fernet import Fernet

from cyberdesk_emulator import EmulatorServer

RELIABILITY_SUPPORT = Path(__file__).resolve().parents[2] / "reliability" / "reliability_support.py"


def load_module_at(name: str, path: Path) -> ModuleType:
    """Import the file `path` as module `name` (once), without putting its folder on sys.path:
    there, folders named airflow/ or prefect/ (tests/reliability, tests/e2e/distributed) would
    pass for namespace packages of those names in this process."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _load_reliability_support() -> ModuleType:
    return load_module_at("reliability_support", RELIABILITY_SUPPORT)


_support = _load_reliability_support()
new_canary: Callable[[str], str] = _support.new_canary
scan_files: Callable[[Iterable[Path], Iterable[str]], dict[str, list[str]]] = _support.scan_files
dump_sqlite: Callable[[Path], dict[str, str]] = _support.dump_sqlite
canaries_in_tables: Callable[[dict[str, str], Iterable[str]], dict[str, list[str]]] = (
    _support.canaries_in_tables
)

#: Environment variable (on every service) holding the JSON object of the literal secrets that
#: the canary DAG reads when it is parsed.
SECRETS_ENV = "CYBERDESK_E2E_CANARY_SECRETS"
#: Which literal secret each task of the canary DAG sends (see ``dags/e2e_cyberdesk_canary.py``).
SECRET_NAMES = ("run", "worker", "shared", "step", "bulk")
#: Temp files larger than this are not read (other processes on the machine share the folder).
MAX_TEMP_FILE = 256 * 2**20
#: Top-level temp folders that belong to the machine's tooling, not to any test.
FOREIGN_TEMP_PREFIXES = ("bash_jobs", "bash_tool_")


@dataclass(frozen=True)
class SessionSecrets:
    """Random literal secrets given to the Airflow services when the session started them."""

    values: dict[str, str]
    created_at: float = field(default_factory=time.time)


def new_session_secrets() -> SessionSecrets:
    """One random canary per name of :data:`SECRET_NAMES`."""
    return SessionSecrets({name: new_canary(f"e2e-{name}") for name in SECRET_NAMES})


# -- the canary DAG run ------------------------------------------------------------------------

DAG_ID = "e2e_cyberdesk_canary"
#: Names used by the DAG file (``dags/e2e_cyberdesk_canary.py``).
CONN_ID = "cyberdesk_canary"
PIN_VARIABLE = "canary_erp_pin"
PLANTED_FILE_PREFIX = "cyberdesk-e2e-planted-"
DEFERRED_TASKS = ("run_deferred", "chain")
MASK = "********"
#: 4 s per run at the suites' time scale: long enough to be seen deferred.
BEHAVIOR = {
    "duration": 40,
    "output": {
        "n": "{{ inputs.n }}",
        "tag": "{{ inputs.tag }}",
        "pw_sha": "{{ secrets.pw | sha256 }}",
        "pin_sha": "{{ secrets.pin | sha256 }}",
        # A careless agent echoing a secret: the emulator masks it.
        "pw_echo": "{{ secrets.pw }}",
    },
}


def sha(value: str | None) -> str:
    """What the emulator's ``sha256`` filter returns for a secret (``null`` when absent)."""
    raw = value if value is not None else json.dumps(None)
    return hashlib.sha256(raw.encode()).hexdigest()


def watch_run(
    api: AirflowApi,
    run_id: str,
    read_triggers: Callable[[], dict[int, str]],
    timeout: float,
    on_poll: Callable[[], None] | None = None,
) -> tuple[str, dict[str, set[str | None]], dict[int, str]]:
    """Poll the DAG run until it finishes (calling ``on_poll`` each round).

    Returns its state, every state each task was seen in, and the decrypted trigger rows seen
    meanwhile (Airflow deletes a trigger's row once it has fired).
    """
    seen: dict[str, set[str | None]] = {}
    triggers: dict[int, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for (task_id, _), state in api.states(DAG_ID, run_id).items():
            seen.setdefault(task_id, set()).add(state)
        triggers.update(read_triggers())
        if on_poll is not None:
            on_poll()
        state = str(api.dag_run(DAG_ID, run_id)["state"])
        if state in FINISHED_RUN_STATES:
            return state, seen, triggers
        time.sleep(0.25)
    raise AssertionError(f"DAG run {run_id} did not finish in {timeout}s; task states: {seen}")


def planted_temp_files(marker: str) -> list[Path]:
    """Temp files the ``plant`` task of this run left (another session may plant its own)."""
    found = []
    for path in Path(tempfile.gettempdir()).glob(f"{PLANTED_FILE_PREFIX}*"):
        try:
            if path.read_text(errors="replace") == marker:
                found.append(path)
        except OSError:
            continue
    return found


def trigger_fired(stack: AirflowStack, run_id: str, task_id: str) -> bool:
    """The triggerer logged the event of the task's first try."""
    output = stack.trigger_output(DAG_ID, run_id, task_id)
    return re.search(rf"Trigger fired event.*{task_id}/-1/1 \(ID", output) is not None


@dataclass
class CanaryRun:
    """A finished canary DAG run: its canaries, its non-secret marker, what was seen."""

    run_id: str
    #: ``{name: canary}``: the session's literal secrets, the Variable and the API key.
    canaries: dict[str, str]
    planted: str
    trigger_rows: dict[int, str]
    #: The ``plant`` task's temp files (filled in, and deleted, when the context exits).
    planted_files: list[Path] = field(default_factory=list)


@contextmanager
def canary_dag_run(
    stack: AirflowStack,
    api: AirflowApi,
    emulator: EmulatorServer,
    session: SessionSecrets,
    *,
    read_triggers: Callable[[], dict[int, str]],
    on_poll: Callable[[], None] | None = None,
    marker_in_run_id: bool = False,
) -> Iterator[CanaryRun]:
    """Run the canary DAG with fresh canaries and check that it did its work.

    Random canaries serve as the API key (of a dedicated emulator organization, in a connection
    stored through the REST API) and as an Airflow Variable, beside the session's literal
    secrets. Checked: both waiting modes ran, every secret reached the simulated agent (which
    returns hashes), the triggerer logged both events, the trigger rows name their runs. The
    caller searches inside the ``with`` block; the planted temp files are deleted at its end.
    ``marker_in_run_id`` also puts the marker in the DAG run id (so in every Celery message).
    """
    api_key = new_canary("e2e-api-key")
    secrets = {**session.values, "variable": new_canary("e2e-variable")}
    planted = new_canary("e2e-planted")
    workflow_id = str(uuid.uuid4())
    emulator.admin.seed(
        {
            "organizations": [
                {
                    "name": f"canary-{workflow_id[:8]}",
                    "api_keys": [api_key],
                    "workflows": [{"id": workflow_id, "name": "erp-login", "behavior": BEHAVIOR}],
                    "machines": [{"name": f"canary-desk-{index}"} for index in range(6)],
                }
            ]
        }
    )
    api.create_connection(CONN_ID, conn_type="cyberdesk", host=emulator.url, password=api_key)
    api.create_variable(PIN_VARIABLE, secrets["variable"])
    run = CanaryRun("", {**secrets, "api_key": api_key}, planted, {})
    try:
        run.run_id = run_id = api.trigger(
            DAG_ID,
            {"workflow_id": workflow_id, "planted": planted},
            run_id=f"manual__{planted}" if marker_in_run_id else None,
        )
        state, seen, run.trigger_rows = watch_run(api, run_id, read_triggers, 150, on_poll)
        assert state == "success", (seen, api.states(DAG_ID, run_id))

        # Both waiting modes ran: two tasks deferred to the triggerer, two waited in the worker.
        for task_id in DEFERRED_TASKS:
            assert "deferred" in seen[task_id], seen
        assert "deferred" not in seen["run_worker"] | seen["bulk"], seen

        # Every secret reached the simulated agent, which could only hash it (or see it masked).
        # The workflow belongs to the canary organization: only the canary API key reaches it.
        deferred = api.xcom(DAG_ID, run_id, "run_deferred")
        assert deferred["pw_sha"] == sha(secrets["run"])
        assert deferred["pin_sha"] == sha(secrets["variable"])
        assert deferred["pw_echo"] == MASK
        worker = api.xcom(DAG_ID, run_id, "run_worker")
        assert (worker["pw_sha"], worker["tag"]) == (sha(secrets["worker"]), planted)
        chain = api.xcom(DAG_ID, run_id, "chain")
        assert chain["first"]["pw_sha"] == chain["second"]["pw_sha"] == sha(secrets["shared"])
        assert (chain["first"]["pin_sha"], chain["second"]["pin_sha"]) == (
            sha(None),
            sha(secrets["step"]),
        )
        bulk = json.dumps(api.xcom(DAG_ID, run_id, "bulk"))
        assert bulk.count(sha(secrets["bulk"])) == 2, bulk

        # The triggerer wrote its lines about the two deferred tasks (its last lines can land
        # in its own log shortly after the task resumed).
        for task_id in DEFERRED_TASKS:
            poll_until(
                partial(trigger_fired, stack, run_id, task_id),
                timeout=15,
                what=f"the triggerer to log the event of {task_id}",
            )
        # The trigger rows were read and decrypted: they name the runs they wait for.
        deferred_run_id = api.xcom(DAG_ID, run_id, "run_deferred", "run_id")
        chain_run_ids = api.xcom(DAG_ID, run_id, "chain", "run_ids")
        rows = "\n".join(run.trigger_rows.values())
        for cyberdesk_run_id in [deferred_run_id, *chain_run_ids]:
            assert cyberdesk_run_id in rows, run.trigger_rows
        yield run
    finally:
        run.planted_files = planted_temp_files(planted)
        for path in run.planted_files:
            path.unlink(missing_ok=True)


def decrypt_trigger_rows(rows: Iterable[Sequence[str | int]], fernet_key: str) -> dict[int, str]:
    """``{trigger id: "classpath kwargs"}`` of ``(id, classpath, kwargs)`` rows, decrypted."""
    fernet = Fernet(fernet_key.encode())
    decrypted = {}
    for trigger_id, classpath, kwargs in rows:
        # Airflow keeps unencrypted JSON for rows written before encryption was introduced.
        text = str(kwargs)
        text = text if text.startswith("{") else fernet.decrypt(text.encode()).decode()
        decrypted[int(trigger_id)] = f"{classpath} {text}"
    return decrypted


def read_trigger_rows(db_path: Path, fernet_key: str) -> dict[int, str]:
    """``{trigger id: "classpath kwargs"}`` of every row of the SQLite ``trigger`` table,
    decrypted.

    Returns an empty mapping while the database is locked by a writer (the caller polls).
    """
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute("SELECT id, classpath, kwargs FROM trigger").fetchall()
    except sqlite3.OperationalError:
        return {}
    return decrypt_trigger_rows(rows, fernet_key)


def recent_temp_files(since: float, root: Path | None = None) -> Iterator[Path]:
    """Regular files below the temp folder modified at or after ``since`` (epoch seconds)."""
    top = root or Path(tempfile.gettempdir())
    for folder, dirs, files in os.walk(top):
        if Path(folder) == top:
            dirs[:] = [d for d in dirs if not d.startswith(FOREIGN_TEMP_PREFIXES)]
        for name in files:
            path = Path(folder, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            if info.st_mtime >= since and info.st_size <= MAX_TEMP_FILE:
                yield path


def find_markers(
    needles: Iterable[str],
    *,
    trees: Iterable[Path],
    databases: Iterable[Path],
    temp_since: float,
    texts: Mapping[str, str],
) -> dict[str, set[str]]:
    """``{needle: {where it was found}}`` (an empty set for a needle found nowhere).

    Places: ``file:<path>`` (bytes of every file below ``trees``, and of every temp file written
    since ``temp_since``), ``table:<db name>.<table>`` (text dump of every table of each SQLite
    database) and ``text:<name>`` for the given ``texts`` (captured output, decrypted rows).
    """
    wanted = list(needles)
    found: dict[str, set[str]] = {needle: set() for needle in wanted}
    files = [*trees, *recent_temp_files(temp_since)]
    for needle, paths in scan_files(files, wanted).items():
        found[needle].update(f"file:{path}" for path in paths)
    for db in databases:
        for needle, tables in canaries_in_tables(dump_sqlite(db), wanted).items():
            found[needle].update(f"table:{db.name}.{table}" for table in tables)
    for name, text in texts.items():
        for needle in wanted:
            if needle in text:
                found[needle].add(f"text:{name}")
    return found
