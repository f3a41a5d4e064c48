"""Pure request/response plumbing shared by the sync and async clients.

An endpoint method builds a `Call`: a `RequestSpec` (what to send) plus a parser (how to read
the successful response). Only the transports do I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from cyberdesk_core.errors import APIError, ConfigurationError

if TYPE_CHECKING:
    import httpx

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

__all__ = [
    "NO_BODY",
    "Call",
    "OptionSet",
    "RequestSpec",
    "build_params",
    "checked_options",
    "compact_body",
]


class _NoBody:
    def __repr__(self) -> str:
        return "NO_BODY"


NO_BODY: Any = _NoBody()

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RequestSpec:
    """One logical API request. `json` may hold concealed secrets; it is never logged."""

    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    json: Any = field(default=NO_BODY, repr=False)
    idempotency_key: str | None = None
    resource: tuple[str, str] | None = None
    #: A file's bytes, streamed to disk: asked for without compression, so a server's gzip
    #: cannot make one network chunk expand into a large block in memory.
    raw_bytes: bool = False

    @property
    def is_write(self) -> bool:
        """POST/PUT/PATCH/DELETE."""
        return self.method.upper() in WRITE_METHODS


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request plus the parser for its successful response."""

    request: RequestSpec
    parse: Callable[[httpx.Response], T]


def _query_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
        return aware.isoformat()
    return str(value)


def build_params(**params: object) -> tuple[tuple[str, str], ...]:
    """Query params: None dropped, bools as true/false, lists as repeated keys, naive dt = UTC."""
    out: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            out.extend((key, _query_value(v)) for v in value)
        else:
            out.append((key, _query_value(value)))
    return tuple(out)


def join_include(include: str | Iterable[str] | None) -> str | None:
    """`include` is sent as one comma-separated value."""
    if include is None or isinstance(include, str):
        return include
    return ",".join(include)


def compact_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """A create body: keys whose value is None are omitted (the server applies its defaults)."""
    return {k: v for k, v in values.items() if v is not None}


#: The range of `expires_in` (seconds) that the API accepts for every signed URL.
MIN_SIGNED_URL_SECONDS = 10
MAX_SIGNED_URL_SECONDS = 3600


def check_expires_in(expires_in: object) -> int:
    """`expires_in` if it is a whole number of seconds in 10..3600, else ConfigurationError.

    Checked before anything is sent, for attachment and screenshot URLs alike: the API would
    answer 422, and a value taken from a template or a UI form should fail with its own name.
    """
    if (
        isinstance(expires_in, bool)
        or not isinstance(expires_in, int)
        or not MIN_SIGNED_URL_SECONDS <= expires_in <= MAX_SIGNED_URL_SECONDS
    ):
        raise ConfigurationError(
            f"expires_in must be an integer number of seconds between {MIN_SIGNED_URL_SECONDS} "
            f"and {MAX_SIGNED_URL_SECONDS}, got {expires_in!r}."
        )
    return expires_in


class OptionSet(Protocol):
    """A `TypedDict` class as seen at run time: its keys in declaration order, the required ones."""

    __annotations__: dict[str, Any]
    __required_keys__: frozenset[str]


def checked_options(options: Mapping[str, Any], spec: OptionSet, where: str) -> dict[str, Any]:
    """`options` in `spec`'s declaration order, after the checks a written-out signature makes.

    Methods take `**options: Unpack[spec]`: type checkers verify the keywords of every call, but
    at run time Python accepts any name, so a misspelled option would be dropped silently. Like
    the interpreter, this raises TypeError for unknown and missing required keywords.
    """
    declared = spec.__annotations__
    for name in options:
        if name not in declared:
            raise TypeError(f"{where}() got an unexpected keyword argument {name!r}")
    for name in declared:
        if name in spec.__required_keys__ and name not in options:
            raise TypeError(f"{where}() missing required keyword argument {name!r}")
    return {name: options[name] for name in declared if name in options}


def _json_body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise APIError(
            f"Cyberdesk returned a non-JSON body for {response.request.method} "
            f"{response.request.url} ({response.status_code}); check the base URL.",
            status_code=response.status_code,
            method=response.request.method,
            url=str(response.request.url),
        ) from None


def _invalid_shape(response: httpx.Response, model: type[Any], exc: Exception) -> APIError:
    return APIError(
        f"Cyberdesk returned an unexpected {model.__name__} shape for "
        f"{response.request.method} {response.request.url}: {exc}",
        status_code=response.status_code,
        method=response.request.method,
        url=str(response.request.url),
    )


def model_parser(model: type[M]) -> Callable[[httpx.Response], M]:
    """Parser that validates the JSON body as `model`."""

    def parse(response: httpx.Response) -> M:
        # Validating the JSON text in one go skips building the intermediate Python objects
        # (about three times cheaper for a run); both routes validate the same way.
        try:
            return model.model_validate_json(response.content)
        except PydanticValidationError:
            pass
        # Not JSON, not UTF-8 or not the right shape: decode and validate again, so the error
        # raised is the same explicit APIError either way.
        data = _json_body(response)
        try:
            return model.model_validate(data)
        except PydanticValidationError as exc:
            raise _invalid_shape(response, model, exc) from None

    return parse


def list_parser(model: type[M]) -> Callable[[httpx.Response], list[M]]:
    """Parser for endpoints that return a bare JSON array of `model`."""

    def parse(response: httpx.Response) -> list[M]:
        data = _json_body(response)
        if not isinstance(data, list):
            raise _invalid_shape(response, model, TypeError("expected a JSON array"))
        try:
            return [model.model_validate(item) for item in data]
        except PydanticValidationError as exc:
            raise _invalid_shape(response, model, exc) from None

    return parse


def json_parser(response: httpx.Response) -> dict[str, Any]:
    """Parser for free-form JSON objects (e.g. health)."""
    data = _json_body(response)
    return data if isinstance(data, dict) else {"value": data}


def none_parser(response: httpx.Response) -> None:
    """Parser for 204 responses."""
    return
