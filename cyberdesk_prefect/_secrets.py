"""Resolve sensitive run inputs without ever turning them into plain task parameters.

Prefect records task and flow parameters (UI, API, result cache keys), so secrets must reach
the tasks in a form Prefect keeps hidden: the name of a `Secret` block, a `Secret` block,
a `SecretDict`, or a mapping whose values are `SecretStr` / `SecretDict`. Values are kept
wrapped (`cyberdesk_core.payloads.conceal`) until the core builds the request body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from prefect.blocks.system import Secret
from pydantic import Secret as PydanticSecret
from pydantic import SecretStr

from cyberdesk_core import ConfigurationError
from cyberdesk_core.payloads import conceal, to_jsonable
from cyberdesk_prefect._steps import Step, local

if TYPE_CHECKING:
    from typing import TypeAlias

    SensitiveInputs: TypeAlias = (
        str
        | Secret[Any]
        | PydanticSecret[Any]
        | Mapping[str, SecretStr | PydanticSecret[Any]]
        | None
    )
else:
    # Subscripting the `Secret` block at runtime would register a second "secret" block
    # class in Prefect's registry, so the precise alias exists for type checkers only.
    SensitiveInputs = Any
"""What a task accepts for sensitive inputs: a `Secret` block name or object, a
`SecretDict`, or a mapping of name -> `SecretStr` / `SecretDict`."""

_BLOCK_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")

_PLAIN_VALUE_HELP = (
    "pass secrets as the name of a Prefect Secret block holding a JSON object, as a "
    "prefect.types.SecretDict, or as a mapping whose values are pydantic SecretStr; plain "
    "values would be stored and shown as task parameters"
)


def _from_secret_value(value: Any, field: str, source: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{field}: {source} must hold a JSON object of name -> secret value."
        )
    return dict(conceal(dict(value)))


def _from_mapping(value: Mapping[str, Any], field: str) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(item, (SecretStr, PydanticSecret)):
            raise ConfigurationError(f"{field}[{key!r}] is not a secret type: {_PLAIN_VALUE_HELP}.")
        resolved[str(key)] = conceal(item)
    return resolved


def _resolve_loaded(value: Any, field: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, Secret):
        return _from_secret_value(value.get(), field, "the Secret block")
    if isinstance(value, PydanticSecret):
        return _from_secret_value(value.get_secret_value(), field, "the SecretDict")
    if isinstance(value, Mapping):
        return _from_mapping(value, field)
    raise ConfigurationError(f"{field}: unsupported {type(value).__name__}; {_PLAIN_VALUE_HELP}.")


def resolve_sensitive_inputs(
    value: SensitiveInputs, field: str = "sensitive_input_values"
) -> dict[str, Any] | None:
    """Resolve sensitive inputs to a mapping whose leaves are still secret-wrapped (sync)."""
    if isinstance(value, str):
        return _resolve_loaded(_load_secret(_check_block_name(value, field), field), field)
    return _resolve_loaded(value, field)


async def aresolve_sensitive_inputs(
    value: SensitiveInputs, field: str = "sensitive_input_values"
) -> dict[str, Any] | None:
    """Resolve sensitive inputs to a mapping whose leaves are still secret-wrapped (async)."""
    if isinstance(value, str):
        try:
            loaded = await Secret.aload(_check_block_name(value, field))
        except ValueError as exc:
            raise ConfigurationError(
                f"{field}: no Secret block named {value!r} could be loaded ({exc})."
            ) from None
        return _resolve_loaded(loaded, field)
    return _resolve_loaded(value, field)


def _check_block_name(name: str, field: str) -> str:
    # A string that is not a block name may be a secret passed by mistake: never echo it.
    if not _BLOCK_NAME.match(name):
        raise ConfigurationError(
            f"{field}: a string must be the name of a Secret block (lowercase letters, digits "
            f"and dashes); the value given is not one. {_PLAIN_VALUE_HELP[0].upper()}"
            f"{_PLAIN_VALUE_HELP[1:]}."
        )
    return name


def _load_secret(name: str, field: str) -> Secret[Any]:
    try:
        # `_sync=True`: a sync task may run on a thread where Prefect sees an event loop.
        loaded: Secret[Any] = Secret.load(name, _sync=True)  # type: ignore[call-arg,assignment]
        return loaded
    except ValueError as exc:
        raise ConfigurationError(
            f"{field}: no Secret block named {name!r} could be loaded ({exc})."
        ) from None


def sensitive(
    value: SensitiveInputs, field: str = "sensitive_input_values"
) -> Step[dict[str, Any] | None]:
    """The step that resolves sensitive inputs, for either driver (`_steps`)."""
    return local(
        lambda: resolve_sensitive_inputs(value, field),
        lambda: aresolve_sensitive_inputs(value, field),
    )


def plaintext(values: Any) -> Any:
    """The plaintext of resolved sensitive values (None stays None), only ever handed to the
    core's masking (`RunNarrator`, `build_run_report` `secrets=`) so log lines and reports hide
    them; never logged, stored or returned."""
    return to_jsonable(values, reveal=True) if values is not None else ()
