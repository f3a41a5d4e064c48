"""Drivers for request steps written once as generators and sent by a sync or async client.

A step generator yields request `Call`s and is resumed with each call's parsed reply, or has the
exception the call raised thrown into it, so the decision logic (what to read, what to change
next, which error is fatal) is written once and both clients only send the calls. Used by
`cancel_active` (read, then cancel what is still active) and `reattaching` (read, then re-run).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from cyberdesk_core._request import Call

if TYPE_CHECKING:
    from cyberdesk_core.aclient import AsyncCyberdeskClient
    from cyberdesk_core.client import CyberdeskClient

R = TypeVar("R")
T = TypeVar("T")

#: A step generator: yields calls whose replies are of type T, returns R.
Steps = Generator[Call[T], T, R]


@dataclass(frozen=True)
class _Done(Generic[R]):
    value: R


def _advance(steps: Steps[Any, R], reply: object) -> Call[Any] | _Done[R]:
    """Resume `steps` with the reply to its last call (None to start): its next call or result."""
    try:
        if reply is None:
            return next(steps)
        if isinstance(reply, Exception):
            return steps.throw(reply)
        return steps.send(reply)
    except StopIteration as stop:
        return _Done(stop.value)


def send_steps(client: CyberdeskClient, steps: Steps[Any, R]) -> R:
    """Run `steps` to the end with the blocking client."""
    step = _advance(steps, None)
    while not isinstance(step, _Done):
        try:
            reply: object = client._transport.call(step)
        except Exception as exc:  # handed to the steps, which decide whether it is fatal
            reply = exc
        step = _advance(steps, reply)
    return step.value


async def asend_steps(client: AsyncCyberdeskClient, steps: Steps[Any, R]) -> R:
    """Run `steps` to the end with the asyncio client."""
    step = _advance(steps, None)
    while not isinstance(step, _Done):
        try:
            reply: object = await client._transport.call(step)
        except Exception as exc:  # handed to the steps, which decide whether it is fatal
            reply = exc
        step = _advance(steps, reply)
    return step.value
