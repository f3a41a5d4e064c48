"""Request-side models (FileInput, RefValue, ChainStep) and the secret-safe JSON body builder.

Sensitive values are wrapped with `conceal` as soon as they enter the client and revealed by
`to_jsonable(..., reveal=True)` only when the HTTP request body is built.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, Secret, SecretStr, field_validator
from pydantic.types import _SecretBase

from cyberdesk_core.errors import ConfigurationError

__all__ = [
    "ChainStep",
    "FileInput",
    "RefValue",
    "check_text",
    "conceal",
    "lone_surrogate_path",
    "to_jsonable",
    "unencodable_request",
]


class RefValue:
    """A `$ref` to an earlier session step's output: `RefValue("step1.outputs.total")`.

    Serialises to `{"$ref": "step1.outputs.total"}` in request bodies.
    """

    __slots__ = ("ref",)

    def __init__(self, ref: str) -> None:
        if not isinstance(ref, str) or not ref.strip():
            raise ConfigurationError("RefValue needs a non-empty path like 'step1.outputs.total'.")
        self.ref = ref

    def to_json(self) -> dict[str, str]:
        """The wire form, `{"$ref": path}`."""
        return {"$ref": self.ref}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RefValue) and other.ref == self.ref

    def __hash__(self) -> int:
        return hash(("RefValue", self.ref))

    def __repr__(self) -> str:
        return f"RefValue({self.ref!r})"


class FileInput(BaseModel):
    """A file copied onto the machine before the run; `content` is base64 (done for you)."""

    model_config = ConfigDict(frozen=True)

    filename: str
    content: str = Field(repr=False)
    target_path: str | None = None
    cleanup_imports_after_run: bool = False

    @classmethod
    def from_bytes(
        cls,
        filename: str,
        data: bytes,
        *,
        target_path: str | None = None,
        cleanup_imports_after_run: bool = False,
    ) -> FileInput:
        """Build a file input from raw bytes."""
        return cls(
            filename=filename,
            content=base64.b64encode(data).decode("ascii"),
            target_path=target_path,
            cleanup_imports_after_run=cleanup_imports_after_run,
        )

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        target_path: str | None = None,
        cleanup_imports_after_run: bool = False,
        filename: str | None = None,
        max_bytes: int | None = None,
    ) -> FileInput:
        """Read a local regular file (symlinks resolved) of at most `max_bytes`.

        `max_bytes` defaults to CYBERDESK_MAX_FILE_INPUT_BYTES or 25 MiB and is checked before
        reading. Raises `ConfigurationError` if the file is missing, a directory, a special file
        (device, FIFO, /proc) or too large.
        """
        from cyberdesk_core.inputs import read_file_input

        return cls.from_bytes(
            filename or Path(path).name,
            read_file_input(path, max_bytes=max_bytes),
            target_path=target_path,
            cleanup_imports_after_run=cleanup_imports_after_run,
        )

    @property
    def size_bytes(self) -> int:
        """Decoded size of the file."""
        return len(base64.b64decode(self.content))


class ChainStep(BaseModel):
    """One step of a chain: a workflow run in the chain's session."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    workflow_id: str
    session_alias: str | None = None
    inputs: dict[str, Any] | None = None
    sensitive_inputs: dict[str, Any] | None = None

    def __init__(
        self,
        workflow_id: str | None = None,
        session_alias: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        sensitive_inputs: Mapping[str, Any] | None = None,
        **data: Any,
    ) -> None:
        if workflow_id is not None:
            data["workflow_id"] = workflow_id
        super().__init__(
            session_alias=session_alias, inputs=inputs, sensitive_inputs=sensitive_inputs, **data
        )

    @field_validator("sensitive_inputs", mode="before")
    @classmethod
    def _conceal(cls, value: object) -> object:
        return conceal(value) if value is not None else None


def conceal(value: Any) -> Any:
    """Wrap every leaf of a (nested) value in a pydantic secret so reprs never show it."""
    if isinstance(value, _SecretBase):
        return value
    if isinstance(value, Mapping):
        return {str(k): conceal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [conceal(v) for v in value]
    if isinstance(value, str):
        return SecretStr(value)
    return Secret(value)


def to_jsonable(value: Any, *, reveal: bool = False) -> Any:
    """Convert a request value to JSON-ready data.

    Handles pydantic models, `RefValue`, `FileInput`, datetimes, enums, paths and secrets. Secrets
    are only revealed with `reveal=True`, which the transport uses right before sending.
    """
    if isinstance(value, _SecretBase):
        return to_jsonable(value.get_secret_value(), reveal=reveal) if reveal else "**********"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str):
        return value
    if isinstance(value, RefValue):
        return value.to_json()
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, BaseModel):
        fields = {name: getattr(value, name) for name in type(value).model_fields}
        fields.update(value.model_extra or {})
        return {k: to_jsonable(v, reveal=reveal) for k, v in fields.items() if v is not None}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, reveal=reveal) for k, v in value.items()}
    if isinstance(value, Sequence | set | frozenset) and not isinstance(value, bytes | bytearray):
        return [to_jsonable(v, reveal=reveal) for v in value]
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _is_text(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def lone_surrogate_path(value: Any, where: str = "") -> str | None:
    """Where in JSON-ready `value` a string (or key) is not valid Unicode text, or None.

    Such text (a lone surrogate, e.g. from `surrogateescape` decoding) cannot be encoded as
    UTF-8, so a request carrying it could not be sent. The path never includes the text itself.
    """
    if isinstance(value, str):
        return None if _is_text(value) else (where or "a value")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and not _is_text(key):
                return f"a key of {where or 'the request body'}"
            found = lone_surrogate_path(item, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = lone_surrogate_path(item, f"{where}[{i}]")
            if found is not None:
                return found
    return None


def _surrogate_error(path: str) -> ConfigurationError:
    return ConfigurationError(
        f"{path} contains a lone surrogate (an unpaired code point U+D800..U+DFFF): it is not "
        "valid Unicode text and cannot be sent. Fix the text where it is produced (for example "
        "decode bytes with errors='replace', not 'surrogateescape')."
    )


def check_text(value: Any, field: str) -> None:
    """Raise `ConfigurationError` naming the place if JSON-ready `value` holds invalid text."""
    path = lone_surrogate_path(value, field)
    if path is not None:
        raise _surrogate_error(path)


def unencodable_request(
    body: Any, params: Sequence[tuple[str, str]], idempotency_key: str | None
) -> ConfigurationError:
    """The error for a request that cannot be encoded (the transport raises it, nothing sent)."""
    path = lone_surrogate_path(body)
    if path is None:
        path = next(
            (f"query parameter {k!r}" for k, v in params if _is_text(k) and not _is_text(v)), None
        )
    if path is not None:
        return _surrogate_error(path)
    if idempotency_key is not None and not idempotency_key.isascii():
        return ConfigurationError(
            "idempotency_key must be ASCII text: it is sent as an HTTP header."
        )
    return ConfigurationError(
        "The request holds text that cannot be encoded (not valid Unicode); check the ids, "
        "names and values passed to this call."
    )
