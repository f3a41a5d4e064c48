"""One parameter list per task, shared by its sync and async forms.

Prefect builds a task's parameter schema (the UI form, parameter validation, `.map()`
binding) from the function signature, so each task keeps an explicit, typed signature rather
than `**options: Unpack[...]`, which Prefect would show as one untyped `options` object. The
sync form declares it; `async_form_of` gives the async form exactly that signature (for
Prefect at run time and for type checkers through `ParamSpec`), so the parameters, their
defaults and their docs are written once. Both forms then read the bound parameters with the
builders below, which turn them into the engine's settings.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, ParamSpec, TypeVar

from cyberdesk_prefect._deprecation import rename_params
from cyberdesk_prefect._run_settings import FinishSettings, RunOptions, WaitSettings

P = ParamSpec("P")
R = TypeVar("R")
Params = Mapping[str, Any]

# Task parameters that map one to one onto `RunOptions` fields.
_OPTION_FIELDS = (
    "input_values",
    "file_inputs",
    "machine_id",
    "pool_ids",
    "session_id",
    "start_session",
    "session_alias",
    "release_session_after",
    "is_priority",
    "main_prompt",
    "model_metadata",
    "rerun_succeeded",
)


def _signature(model: Callable[..., Any]) -> inspect.Signature:
    # Real types, not the strings `from __future__ import annotations` leaves behind:
    # Prefect's schema and validation read the annotations of this signature as they are.
    try:
        return inspect.signature(model, eval_str=True)
    except NameError:
        return inspect.signature(model)


def async_form_of(
    model: Callable[P, Any],
) -> Callable[[Callable[[Params], Coroutine[Any, Any, R]]], Callable[P, Coroutine[Any, Any, R]]]:
    """Make `body(params)` the async form of `model`, with `model`'s exact signature.

    The returned coroutine function binds its arguments like `model` would (defaults
    applied, wrong names rejected, deprecated names renamed as `model` declares them with
    `_deprecation.renamed_params`) and awaits `body` with them.
    """
    signature = _signature(model)
    bind, rename = _binder(signature), rename_params(model)

    def decorate(
        body: Callable[[Params], Coroutine[Any, Any, R]],
    ) -> Callable[P, Coroutine[Any, Any, R]]:
        @functools.wraps(body)
        async def form(*args: P.args, **kwargs: P.kwargs) -> R:
            return await body(rename(bind(args, kwargs)))

        form.__signature__ = signature  # type: ignore[attr-defined]
        # The async form's summary, then the sync form's parameter docs: Prefect shows these
        # as the parameter descriptions, and `help()` shows them to users.
        form.__doc__ = _merged_doc(body.__doc__, model.__doc__)
        form.__annotations__ = {
            **{name: p.annotation for name, p in signature.parameters.items()},
            "return": signature.return_annotation,
        }
        return form

    return decorate


def _binder(
    signature: inspect.Signature,
) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """`signature.bind(*args, **kwargs)` with defaults applied, as a plain dict.

    `Signature.bind` walks every parameter on each call (about 0.05 ms for a task's 25); a
    map of 1,000 async waits paid that 1,000 times. The plain-parameter case is done here
    with dict operations; anything else, and any call that does not fit, goes through
    `Signature.bind`, which also raises the usual `TypeError` for a call that is wrong.
    """
    plain = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    parameters = signature.parameters.values()
    if any(p.kind not in plain for p in parameters):
        return functools.partial(_bind_slowly, signature)
    positional = tuple(
        p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    )
    defaults = {p.name: p.default for p in parameters if p.default is not p.empty}
    required = frozenset(p.name for p in parameters if p.default is p.empty)

    def bind(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        given = dict(zip(positional, args, strict=False))
        fits = (
            len(args) <= len(positional)
            and given.keys().isdisjoint(kwargs)
            and kwargs.keys() <= defaults.keys() | required
        )
        given.update(kwargs)
        if not fits or not required <= given.keys():
            return _bind_slowly(signature, args, kwargs)
        return {
            name: given[name] if name in given else defaults[name] for name in signature.parameters
        }

    return bind


def _bind_slowly(
    signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


def _merged_doc(summary: str | None, model_doc: str | None) -> str:
    first = inspect.cleandoc(summary or "").split("\n\n", 1)[0]
    details = inspect.cleandoc(model_doc or "").split("\n\n", 1)
    return first + ("\n\n" + details[1] if len(details) > 1 else "")


def run_options(params: Params, sensitive: Mapping[str, Any] | None) -> RunOptions:
    """Create options from a task's parameters, file inputs validated (paths/bytes -> files)."""
    fields = {name: params[name] for name in _OPTION_FIELDS if name in params}
    return RunOptions(
        workflow_id=params["workflow_id"], sensitive_input_values=sensitive, **fields
    ).normalized()


def wait_settings(params: Params) -> WaitSettings:
    """How to wait, from `poll_interval` / `max_poll_interval` / `timeout` / ... ."""
    poll = params["poll_interval"]
    return WaitSettings(
        poll,
        params.get("max_poll_interval", poll),
        params["timeout"],
        params["cancel_on_abandon"],
        params.get("live_steps", True),
    )


def finish_settings(params: Params) -> FinishSettings:
    """What to do once the run ended, from the task's output parameters."""
    return FinishSettings(
        params["raise_on_failure"],
        params["download_to"],
        params["filesystem"],
        params["filesystem_folder"],
        params["create_artifact"],
    )
