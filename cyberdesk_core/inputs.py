"""Client-side validation of run inputs, shared by the clients and the engine integrations.

Everything here raises `ConfigurationError` naming the offending field before any request is
sent, so a typo never creates a half-configured run remotely.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.payloads import FileInput, RefValue, check_text, to_jsonable

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_FILE_BYTES_ENV",
    "MAX_TOTAL_FILE_BYTES",
    "MAX_TOTAL_FILE_BYTES_ENV",
    "REF_PATTERN",
    "FileInputLike",
    "normalize_file_inputs",
    "read_file_input",
    "referenced_aliases",
    "validate_input_values",
    "validate_sensitive_values",
    "validate_timeouts",
]

# `<alias>.outputs.<path>`: the alias of an earlier session step, then a dotted output path.
REF_PATTERN = re.compile(r"^[^.\s]+\.outputs(\.[^.\s]+)+$")

FileInputLike = FileInput | str | Path | bytes | tuple[str, bytes] | Mapping[str, Any]

MIB = 1024 * 1024
#: Default limits of file inputs: each file, and all files of one request (base64 adds a third).
MAX_FILE_BYTES = 25 * MIB
MAX_TOTAL_FILE_BYTES = 50 * MIB
#: Environment variables that raise (or lower) the defaults, in bytes, for every caller.
MAX_FILE_BYTES_ENV = "CYBERDESK_MAX_FILE_INPUT_BYTES"
MAX_TOTAL_FILE_BYTES_ENV = "CYBERDESK_MAX_FILE_INPUTS_TOTAL_BYTES"

# Kernel pseudo-files look regular (st_size 0 or 4096) but are not data the user meant to send.
_PSEUDO_DIRS = ("/proc/", "/sys/", "/dev/")


def _size(n: int) -> str:
    if n >= MIB:
        return f"{n // MIB} MiB" if n % MIB == 0 else f"{n / MIB:.1f} MiB"
    return f"{n} bytes"


def _limit(value: int | None, env: str, default: int, name: str) -> int:
    if value is None:
        raw = os.environ.get(env, "").strip()
        if not raw:
            return default
        try:
            value, name = int(raw), env
        except ValueError:
            raise ConfigurationError(f"{env} must be a number of bytes, got {raw!r}.") from None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number of bytes, got {value!r}.")
    return value


@dataclass
class _Budget:
    """The per-file and total limits of one request's file inputs, and what is used so far."""

    per_file: int
    total: int
    used: int = 0

    def take(self, size: int, what: str) -> None:
        if size > self.per_file:
            raise ConfigurationError(
                f"{what} is {_size(size)}, over the {_size(self.per_file)} limit per file. Send a "
                f"smaller file, or raise the limit with max_file_bytes=... or the "
                f"{MAX_FILE_BYTES_ENV} environment variable (bytes)."
            )
        if self.used + size > self.total:
            raise ConfigurationError(
                f"{what} ({_size(size)}) brings the file inputs to {_size(self.used + size)}, over "
                f"the {_size(self.total)} limit for all files of a request. Send fewer or smaller "
                f"files, or raise the limit with max_total_bytes=... or the "
                f"{MAX_TOTAL_FILE_BYTES_ENV} environment variable (bytes)."
            )
        self.used += size


def _budget(max_file_bytes: int | None, max_total_bytes: int | None) -> _Budget:
    return _Budget(
        _limit(max_file_bytes, MAX_FILE_BYTES_ENV, MAX_FILE_BYTES, "max_file_bytes"),
        _limit(max_total_bytes, MAX_TOTAL_FILE_BYTES_ENV, MAX_TOTAL_FILE_BYTES, "max_total_bytes"),
    )


def _read(path: Path, what: str, budget: _Budget) -> bytes:
    """A regular file's bytes, its size checked against `budget` before anything is read."""
    try:
        real = path.resolve(strict=True)
        info = real.stat()
    except FileNotFoundError:
        raise ConfigurationError(f"{what} does not exist.") from None
    except OSError as exc:
        raise ConfigurationError(f"{what} cannot be read: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigurationError(f"{what} is a directory; pass individual files.")
    if not stat.S_ISREG(info.st_mode) or real.as_posix().startswith(_PSEUDO_DIRS):
        # A FIFO would block, a device never ends, /proc files hold this process's secrets.
        raise ConfigurationError(
            f"{what} is not a regular file (it resolves to {str(real)!r}: a device, FIFO, socket "
            "or kernel file); pass a regular file."
        )
    budget.take(info.st_size, what)
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the check, open does not hang.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
        with open(fd, "rb") as handle:
            opened = os.fstat(handle.fileno())
            same = (opened.st_dev, opened.st_ino) == (info.st_dev, info.st_ino)
            data = handle.read(info.st_size + 1) if same else b""
    except OSError as exc:
        raise ConfigurationError(f"{what} cannot be read: {exc.strerror or exc}.") from None
    if not same or len(data) != info.st_size:
        raise ConfigurationError(f"{what} changed while being read; pass a file that is complete.")
    return data


def read_file_input(
    path: str | os.PathLike[str], *, max_bytes: int | None = None, field: str = "file_inputs"
) -> bytes:
    """Read a local file for a file input: a regular file (after symlinks) within `max_bytes`.

    `max_bytes` defaults to CYBERDESK_MAX_FILE_INPUT_BYTES or 25 MiB; the size is checked before
    the file is read. Raises `ConfigurationError` naming the file.
    """
    per_file = _limit(max_bytes, MAX_FILE_BYTES_ENV, MAX_FILE_BYTES, "max_bytes")
    budget = _Budget(per_file, sys.maxsize)
    return _read(Path(path), f"{field}: file {str(path)!r}", budget)


def _encoded_size(content: str) -> int:
    """Decoded size of base64 text, without decoding it."""
    return len(content) * 3 // 4 - content[-2:].count("=")


def _one_file(item: object, where: str, budget: _Budget, index: int = 0) -> FileInput:
    if isinstance(item, FileInput):
        budget.take(_encoded_size(item.content), f"{where} ({item.filename!r})")
        return item
    if isinstance(item, str | Path):
        data = _read(Path(item), f"{where}: file {str(item)!r}", budget)
        return FileInput.from_bytes(Path(item).name, data)
    if isinstance(item, bytes | bytearray):
        budget.take(len(item), where)
        return FileInput.from_bytes(f"input_{index}.bin", bytes(item))
    if (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], bytes | bytearray)
    ):
        budget.take(len(item[1]), f"{where} ({item[0]!r})")
        return FileInput.from_bytes(item[0], bytes(item[1]))
    if isinstance(item, Mapping):
        try:
            parsed = FileInput.model_validate(dict(item))
        except ValueError as exc:
            raise ConfigurationError(
                f"{where}: expected filename/content(base64) keys: {exc}"
            ) from None
        return _one_file(parsed, where, budget)
    raise ConfigurationError(
        f"{where}: unsupported {type(item).__name__}; pass a path, bytes, "
        "(filename, bytes) or FileInput."
    )


def normalize_file_inputs(
    items: Iterable[Any] | Mapping[str, Any] | str | Path | bytes | FileInput | None,
    field: str = "file_inputs",
    *,
    max_file_bytes: int | None = None,
    max_total_bytes: int | None = None,
) -> list[FileInput] | None:
    """Turn paths / bytes / (name, bytes) / dicts / FileInput into a list of `FileInput`.

    A mapping is read as `{filename: bytes or path}`. None stays None. Paths must be regular
    files (symlinks resolved). Each file may hold at most `max_file_bytes` (default
    CYBERDESK_MAX_FILE_INPUT_BYTES or 25 MiB) and all together `max_total_bytes` (default
    CYBERDESK_MAX_FILE_INPUTS_TOTAL_BYTES or 50 MiB); sizes are checked before files are read.
    """
    if items is None:
        return None
    budget = _budget(max_file_bytes, max_total_bytes)
    if isinstance(items, str | Path | bytes | FileInput):
        items = [items]
    elif isinstance(items, Mapping) and not {"filename", "content"} <= set(items):
        return [_named(name, data, f"{field}[{name!r}]", budget) for name, data in items.items()]
    elif isinstance(items, Mapping):
        items = [items]
    return [_one_file(item, f"{field}[{i}]", budget, i) for i, item in enumerate(items)]


def _named(name: str, source: object, where: str, budget: _Budget) -> FileInput:
    if isinstance(source, bytes | bytearray):
        return _one_file((name, bytes(source)), where, budget)
    if not isinstance(source, str | Path):
        raise ConfigurationError(f"{where}: value must be bytes or a file path.")
    return _one_file(source, where, budget).model_copy(update={"filename": name})


def _check_refs(value: Any, where: str) -> None:
    if isinstance(value, RefValue):
        if not REF_PATTERN.match(value.ref):
            raise ConfigurationError(
                f"{where}: $ref {value.ref!r} must look like '<alias>.outputs.<path>'."
            )
        return
    if isinstance(value, Mapping):
        if "$ref" in value:
            ref = value["$ref"]
            if len(value) != 1 or not isinstance(ref, str) or not REF_PATTERN.match(ref):
                raise ConfigurationError(
                    f"{where}: a $ref must be {{'$ref': '<alias>.outputs.<path>'}} with no "
                    f"other keys, got {value!r}."
                )
            return
        for key, item in value.items():
            _check_refs(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_refs(item, f"{where}[{i}]")


def referenced_aliases(value: Any) -> list[str]:
    """Session aliases named by the `$ref`s inside `value` (`"a.outputs.x"` -> `"a"`), in order."""
    if isinstance(value, RefValue):
        return [value.ref.split(".", 1)[0]]
    if isinstance(value, Mapping):
        ref = value.get("$ref")
        if isinstance(ref, str) and len(value) == 1:
            return [ref.split(".", 1)[0]]
        return [alias for item in value.values() for alias in referenced_aliases(item)]
    if isinstance(value, list | tuple):
        return [alias for item in value for alias in referenced_aliases(item)]
    return []


def _check_serialisable(value: Any, field: str) -> None:
    try:
        data = to_jsonable(value)
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{field} must be JSON-serialisable: {exc}") from None
    check_text(data, field)


def validate_input_values(
    values: Mapping[str, Any] | None, field: str = "input_values"
) -> dict[str, Any] | None:
    """Check inputs are a JSON-serialisable mapping with well-formed `$ref`s; returns a copy."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"{field} must be a mapping of name -> value.")
    for key in values:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"{field}: keys must be non-empty strings, got {key!r}.")
    _check_refs(values, field)
    _check_serialisable(values, field)
    return dict(values)


def validate_sensitive_values(
    values: Mapping[str, Any] | None, field: str = "sensitive_input_values"
) -> dict[str, Any] | None:
    """Check secret inputs are a mapping with string keys; values are never echoed in errors."""
    if values is None:
        return None
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"{field} must be a mapping of name -> secret value.")
    for key in values:
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"{field}: keys must be non-empty strings.")
    try:
        data = to_jsonable(values, reveal=True)
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{field} must be JSON-serialisable.") from None
    check_text(data, field)  # names the key only, never the value
    return dict(values)


def validate_timeouts(
    *,
    poll_interval: float | None = None,
    max_poll_interval: float | None = None,
    timeout: float | None = None,
    **others: float | None,
) -> None:
    """Check that intervals/timeouts are positive finite numbers and poll <= max_poll."""
    named = {
        "poll_interval": poll_interval,
        "max_poll_interval": max_poll_interval,
        "timeout": timeout,
        **others,
    }
    for name, value in named.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}.")
        if not math.isfinite(value) or value <= 0:
            raise ConfigurationError(f"{name} must be a positive number of seconds, got {value!r}.")
    if (
        poll_interval is not None
        and max_poll_interval is not None
        and max_poll_interval < poll_interval
    ):
        raise ConfigurationError(
            f"max_poll_interval ({max_poll_interval}) must be >= poll_interval ({poll_interval})."
        )
