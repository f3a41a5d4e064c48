"""The async form of each task binds its arguments exactly like the sync form's signature."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from cyberdesk_prefect import (
    aget_cyberdesk_run,
    arun_cyberdesk_workflow,
    await_cyberdesk_run,
    get_cyberdesk_run,
    run_cyberdesk_workflow,
    wait_for_cyberdesk_run,
)
from cyberdesk_prefect._params import _binder

PAIRS = [
    (wait_for_cyberdesk_run, await_cyberdesk_run),
    (run_cyberdesk_workflow, arun_cyberdesk_workflow),
    (get_cyberdesk_run, aget_cyberdesk_run),
]
CALLS: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    (("creds", "run-1"), {}),
    (("creds",), {"run_id": "run-1", "workflow_id": "wf", "poll_interval": 0.5}),
    (("creds", "x", "y"), {"timeout": 3}),
]
WRONG: list[tuple[tuple[Any, ...], dict[str, Any]]] = [
    ((), {}),  # required parameters missing
    (("creds", "run-1"), {"no_such_parameter": 1}),
    (("creds", "run-1"), {"credentials": "again"}),
    (tuple(range(60)), {}),  # more positional arguments than parameters
]


def _reference(signature: inspect.Signature, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return dict(bound.arguments)


@pytest.mark.parametrize(("sync", "async_"), PAIRS, ids=lambda t: getattr(t, "name", "?"))
def test_async_forms_bind_like_signature_bind(sync: Any, async_: Any) -> None:
    signature = inspect.signature(async_.fn)
    assert list(signature.parameters) == list(inspect.signature(sync.fn).parameters)
    bind = _binder(signature)
    checked = 0
    for args, kwargs in CALLS:
        try:
            expected = _reference(signature, args, kwargs)
        except TypeError:
            continue
        got = bind(args, kwargs)
        assert got == expected
        assert list(got) == list(signature.parameters)
        checked += 1
    assert checked >= 1
    for args, kwargs in WRONG:
        with pytest.raises(TypeError) as ours:
            bind(args, kwargs)
        with pytest.raises(TypeError) as theirs:
            signature.bind(*args, **kwargs)
        assert str(ours.value) == str(theirs.value)


def test_keyword_only_and_variadic_parameters_bind_correctly() -> None:
    def model(a: int, b: int = 2, *, c: int = 3, d: int) -> None: ...

    bind = _binder(inspect.signature(model))
    assert bind((1,), {"d": 4}) == {"a": 1, "b": 2, "c": 3, "d": 4}
    with pytest.raises(TypeError, match="too many positional"):
        bind((1, 2, 3), {"d": 4})

    def variadic(a: int, *rest: int, **more: int) -> None: ...

    slow = _binder(inspect.signature(variadic))
    assert slow((1, 2, 3), {"x": 4}) == {"a": 1, "rest": (2, 3), "more": {"x": 4}}
