"""Helpers shared by the reliability suites of every environment (core, Airflow, Prefect).

Imported by each suite's conftest (which puts this folder on ``sys.path``); it imports only the
emulator and the standard library, so it works in both virtual environments.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: Overall share of requests that get a fault in the soak tests.
FAULT_SHARE = 0.20

#: Fault kinds drawn on every Cyberdesk route. ``drop-after`` and ``500-after`` process the
#: request first and then lose the response: the client's retry must be answered from the
#: emulator's idempotency store instead of creating a second run.
SOAK_KINDS: tuple[tuple[str, str], ...] = (
    ("429", "before"),
    ("500", "before"),
    ("500", "after"),
    ("502", "before"),
    ("503", "before"),
    ("504", "before"),
    ("drop", "before"),
    ("drop", "after"),
    ("409", "before"),
    ("latency", "before"),
)


def soak_faults(
    *,
    seed: int = 7,
    share: float = FAULT_SHARE,
    retry_after: float = 1.0,
    small_latency: float = 0.05,
    big_spikes: int = 3,
) -> dict[str, Any]:
    """A fault configuration in which about ``share`` of all requests get one fault.

    Each kind gets the same per-request rate ``r`` with ``1 - (1 - r) ** kinds == share``.
    Latency is split in a frequent short delay plus ``big_spikes`` real 2 s spikes.
    """
    per_kind = 1 - (1 - share) ** (1 / len(SOAK_KINDS))
    rules: list[dict[str, Any]] = []
    for kind, phase in SOAK_KINDS:
        rule: dict[str, Any] = {"route": "*", "kind": kind, "rate": per_kind, "phase": phase}
        if kind == "429":
            rule["retry_after"] = retry_after
        if kind == "latency":
            rule["latency"] = small_latency
        rules.append(rule)
    if big_spikes:
        rules.append(
            {"route": "*", "kind": "latency", "rate": 0.02, "latency": 2.0, "times": big_spikes}
        )
    return {"seed": seed, "rules": rules}


def assert_no_duplicate_creates(stats: dict[str, Any], expected_runs: int) -> None:
    """Every Idempotency-Key created its runs exactly once and no run was created without one."""
    creates = stats["creates_by_idempotency_key"]
    duplicated = {key: n for key, n in creates.items() if n != 1}
    assert not duplicated, f"keys processed more than once: {duplicated}"
    runs_by_key = stats["runs_by_idempotency_key"]
    assert stats["runs_created"] == sum(runs_by_key.values()) == expected_runs, (
        stats["runs_created"],
        sum(runs_by_key.values()),
        expected_runs,
    )


def fault_share(stats: dict[str, Any]) -> float:
    """Injected error faults (latency not counted) per Cyberdesk request."""
    faults = sum(stats["faults_injected"].values())
    requests = sum(n for route, n in stats["requests_by_route"].items() if "/v1/" in route)
    return faults / max(1, requests)


def new_canary(label: str) -> str:
    """A random marker that cannot occur by chance anywhere else."""
    return f"canary-{label}-{secrets.token_hex(12)}"


def scan_files(roots: Iterable[Path], needles: Iterable[str]) -> dict[str, list[str]]:
    """``{needle: [files containing it]}`` over every regular file below ``roots``.

    Files are read as bytes so binary stores (SQLite pages, pickles) are searched too.
    """
    wanted = [n for n in needles]
    hits: dict[str, list[str]] = {}
    for root in roots:
        if not root.exists():
            continue
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for needle in wanted:
                if needle.encode() in data:
                    hits.setdefault(needle, []).append(str(path))
    return hits


def dump_sqlite(db_path: Path) -> dict[str, str]:
    """Every table of a SQLite database rendered as text: ``{table: rows as JSON-ish text}``.

    BLOB columns are decoded leniently so pickled or JSON-in-bytes values are searchable.
    """
    tables: dict[str, str] = {}
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        names = [
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        for name in names:
            rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()  # noqa: S608
            rendered = []
            for row in rows:
                cells = [
                    cell.decode("utf-8", "replace") if isinstance(cell, bytes) else cell
                    for cell in row
                ]
                rendered.append(json.dumps(cells, default=str))
            tables[name] = "\n".join(rendered)
    return tables


def canaries_in_tables(tables: dict[str, str], needles: Iterable[str]) -> dict[str, list[str]]:
    """``{needle: [tables containing it]}``."""
    hits: dict[str, list[str]] = {}
    for needle in needles:
        found = [name for name, text in tables.items() if needle in text]
        if found:
            hits[needle] = found
    return hits
