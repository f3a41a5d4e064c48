"""Idempotency-Key bookkeeping: one stored response per (organization, key)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

MAX_ENTRIES = 100_000


@dataclass
class StoredResponse:
    """A complete response that a repeated request gets back verbatim."""

    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


IN_PROGRESS = "in_progress"
MISMATCH = "mismatch"


class IdempotencyStore:
    """Tracks in-flight keys and stores finished responses (bounded, oldest evicted)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[tuple[str, str], tuple[str, StoredResponse | str]] = (
            OrderedDict()
        )

    def begin(self, org_id: str, key: str, request: str) -> StoredResponse | str | None:
        """Claim a key for ``request`` (``"METHOD /path"``).

        Returns None when claimed, ``IN_PROGRESS``, ``MISMATCH`` (the key belongs to another
        request), or the stored response to replay.
        """
        entry = self._entries.get((org_id, key))
        if entry is not None:
            owner, state = entry
            return state if owner == request else MISMATCH
        self._entries[(org_id, key)] = (request, IN_PROGRESS)
        while len(self._entries) > MAX_ENTRIES:
            self._entries.popitem(last=False)
        return None

    def owner(self, org_id: str, key: str) -> str | None:
        """The request a key was first used for."""
        entry = self._entries.get((org_id, key))
        return entry[0] if entry else None

    def complete(self, org_id: str, key: str, request: str, response: StoredResponse) -> None:
        """Store the original response of a claimed key."""
        self._entries[(org_id, key)] = (request, response)

    def abandon(self, org_id: str, key: str) -> None:
        """Release a claim without storing (server errors are not replayed)."""
        self._entries.pop((org_id, key), None)

    def clear(self) -> None:
        """Forget every key."""
        self._entries.clear()
