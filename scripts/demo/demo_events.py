"""Progress events the pipeline runners hand to the demo driver: one JSON object per line.

A runner appends ``{"t": <epoch seconds>, "source": "airflow", "message": "..."}`` lines to the
file the driver passes as ``--events``; the driver tails the file and prints the lines as they come.
Only state changes are emitted, so the demo shows progress rather than log noise.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class EventLog:
    """Append-only writer of progress events."""

    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.source = source

    def emit(self, message: str, **fields: Any) -> None:
        """Append one event; flushed at once so the driver sees it while the runner works."""
        record = {"t": time.time(), "source": self.source, "message": message, **fields}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, default=str) + "\n")


class EventTail:
    """Reads the events appended to a file since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def read_new(self) -> list[dict[str, Any]]:
        """Complete lines appended since the previous call, parsed."""
        if not self.path.exists():
            return []
        with self.path.open("r", encoding="utf-8") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        complete, _, _partial = chunk.rpartition("\n")
        if not complete:
            return []
        self._offset += len(complete.encode("utf-8")) + 1
        events = []
        for line in complete.splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return events
