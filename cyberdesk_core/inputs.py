"""Client-side validation of run inputs, shared by the clients and the engine integrations.

Everything here raises `ConfigurationError` naming the offending field before any request is
sent, so a typo never creates a half-configured run remotely.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.payloads import FileInput, RefValue, to_jsonable

__all__ = [
    "REF_PATTERN",
    "FileInputLike",
    "normalize_file_inputs",
    "referenced_aliases",
    "validate_input_values",
    "validate_sensitive_values",
    "validate_timeouts",
]

# `<alias>.outputs.<path>`: the alias of an earlier session step, then a dotted output path.
REF_PATTERN = re.compile(r"^[^.\s]+\.outputs(\.[^.\s]+)+$")

FileInputLike = FileInput | str | Path | bytes | tuple[str, bytes] | Mapping[str, Any]


def _one_file(item: object, index: int, field: str) -> FileInput:
    if isinstance(item, FileInput):
        return item
    if isinstance(item, str | Path):
        p = Path(item)
        if not p.exists():
            raise ConfigurationError(f"{field}[{index}]: file {str(p)!r} does not exist.")
        if not p.is_file():
            raise ConfigurationError(
                f"{field}[{index}]: {str(p)!r} is a directory; pass individual files."
            )
        return FileInput.from_path(p)
    if isinstance(item, bytes | bytearray):
        return FileInput.from_bytes(f"input_{index}.bin", bytes(item))
    if (
        isinstance(item, tuple)
        and len(item) == 2
        and isinstance(item[0], str)
        and isinstance(item[1], bytes | bytearray)
    ):
        return FileInput.from_bytes(item[0], bytes(item[1]))
    if isinstance(item, Mapping):
        try:
            return FileInput.model_validate(dict(item))
        except ValueError as exc:
            raise ConfigurationError(
                f"{field}[{index}]: expected filename/content(base64) keys: {exc}"
            ) from None
    raise ConfigurationError(
        f"{field}[{index}]: unsupported {type(item).__name__}; pass a path, bytes, "
        "(filename, bytes) or FileInput."
    )


def normalize_file_inputs(
    items: Iterable[Any] | Mapping[str, Any] | str | Path | bytes | FileInput | None,
    field: str = "file_inputs",
) -> list[FileInput] | None:
    """Turn paths / bytes / (name, bytes) / dicts / FileInput into a list of `FileInput`.

    A mapping is read as `{filename: bytes or path}`. None stays None.
    """
    if items is None:
        return None
    if isinstance(items, str | Path | bytes | FileInput):
        items = [items]
    elif isinstance(items, Mapping) and not {"filename", "content"} <= set(items):
        items = [
            (name, data) if isinstance(data, bytes | bytearray) else _renamed(name, data, field)
            for name, data in items.items()
        ]
    elif isinstance(items, Mapping):
        items = [items]
    return [_one_file(item, i, field) for i, item in enumerate(items)]


def _renamed(name: str, source: object, field: str) -> FileInput:
    if not isinstance(source, str | Path):
        raise ConfigurationError(f"{field}[{name!r}]: value must be bytes or a file path.")
    return _one_file(source, 0, f"{field}[{name!r}]").model_copy(update={"filename": name})


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
        json.dumps(to_jsonable(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"{field} must be JSON-serialisable: {exc}") from None


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
        json.dumps(to_jsonable(values, reveal=True), allow_nan=False)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{field} must be JSON-serialisable.") from None
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
