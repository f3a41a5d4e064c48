"""Result rows, statistics helpers and the table every benchmark prints."""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass
class Row:
    """One figure: what was measured, its target, the result and the ratio to the baseline."""

    figure: str
    target: str
    result: str
    ratio: str = "-"
    met: bool | None = None

    @property
    def verdict(self) -> str:
        """`yes` / `NO` / `-` (informational figures have no target)."""
        if self.met is None:
            return "-"
        return "yes" if self.met else "NO"


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for an empty sequence)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1))))
    return float(ordered[index])


def median(values: Iterable[float]) -> float:
    """Median of the values (0 for none)."""
    data = list(values)
    return float(statistics.median(data)) if data else 0.0


def fmt_ratio(baseline: float, ours: float) -> str:
    """`baseline / ours` as `123.4x` (`inf` when ours is zero)."""
    if ours <= 0:
        return "inf"
    return f"{baseline / ours:.1f}x"


def mib(n_bytes: float) -> float:
    """Bytes to MiB."""
    return n_bytes / (1024 * 1024)


def render_table(rows: Sequence[Row]) -> str:
    """A fixed-width text table: figure, target, result, ratio, met."""
    header = ("figure", "target", "result", "ratio", "met")
    cells = [header, *((r.figure, r.target, r.result, r.ratio, r.verdict) for r in rows)]
    widths = [max(len(str(c[i])) for c in cells) for i in range(len(header))]
    lines = []
    for n, cell in enumerate(cells):
        lines.append("  ".join(str(v).ljust(w) for v, w in zip(cell, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def emit(rows: Sequence[Row], out: str | None = None) -> None:
    """Print the table; with `out`, also write the rows as JSON (for the combined table)."""
    print(render_table(rows), flush=True)
    if out:
        Path(out).write_text(json.dumps([asdict(r) for r in rows], indent=1), encoding="utf-8")


def load_rows(paths: Iterable[str]) -> list[Row]:
    """Rows written by `emit(..., out=...)` (missing files are reported and skipped)."""
    rows: list[Row] = []
    for path in paths:
        file = Path(path)
        if not file.exists():
            print(f"(no results in {path})", file=sys.stderr)
            continue
        data: list[dict[str, Any]] = json.loads(file.read_text(encoding="utf-8"))
        rows.extend(Row(**item) for item in data)
    return rows


def log(message: str) -> None:
    """Progress line on stderr (the table goes to stdout)."""
    print(message, file=sys.stderr, flush=True)
