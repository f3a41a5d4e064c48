"""Secrets canary of the Airflow end-to-end suite: the canaries and the search for them.

The search reuses the reliability suites' helpers (``reliability_support``: byte search of files,
table dumps of SQLite databases) and adds what only a real installation has: trigger rows, whose
kwargs Airflow stores Fernet-encrypted (searched after decryption, so encryption at rest cannot
hide a secret the product put there), and the temp files the services wrote outside the test's
folders.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from cryptography.fernet import Fernet

RELIABILITY_SUPPORT = Path(__file__).resolve().parents[2] / "reliability" / "reliability_support.py"


def _load_reliability_support() -> ModuleType:
    # Loaded by path: putting tests/reliability on sys.path would let its airflow/ and prefect/
    # folders pass for namespace packages of those names in this process.
    name = "reliability_support"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, RELIABILITY_SUPPORT)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {RELIABILITY_SUPPORT}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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


def read_trigger_rows(db_path: Path, fernet_key: str) -> dict[int, str]:
    """``{trigger id: "classpath kwargs"}`` of every row of the ``trigger`` table, decrypted.

    Returns an empty mapping while the database is locked by a writer (the caller polls).
    """
    fernet = Fernet(fernet_key.encode())
    try:
        with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=1) as conn:
            rows = conn.execute("SELECT id, classpath, kwargs FROM trigger").fetchall()
    except sqlite3.OperationalError:
        return {}
    decrypted = {}
    for trigger_id, classpath, kwargs in rows:
        # Airflow keeps unencrypted JSON for rows written before encryption was introduced.
        text = kwargs if kwargs.startswith("{") else fernet.decrypt(kwargs.encode()).decode()
        decrypted[int(trigger_id)] = f"{classpath} {text}"
    return decrypted


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
