"""Idempotency keys: deterministic ones for engines, random ones for ad-hoc calls."""

from __future__ import annotations

import uuid

__all__ = ["IDEMPOTENCY_NAMESPACE", "derive_idempotency_key", "new_idempotency_key"]

# Fixed namespace so the same parts give the same key in every process and release.
IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1d3c2a-5b7e-5e8a-9c1f-2d4b6a8e0c13")


def derive_idempotency_key(*parts: object) -> str:
    """A deterministic UUID5 key from `parts` (e.g. dag_id, run_id, task_id, map_index, purpose).

    The same parts always give the same key, so a retried task reattaches to the run it already
    created instead of starting a second one.
    """
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "\x1f".join(map(str, parts))))


def new_idempotency_key() -> str:
    """A fresh random key for one logical write (reused across that write's retries)."""
    return str(uuid.uuid4())
