"""Prefect-side sequences written once as generators, run by a blocking or an asyncio driver.

The core writes its request sequences once (`cyberdesk_core._steps`); this layer needs the same
for sequences that mix Cyberdesk requests with Prefect work: recording runs on the flow run,
artifacts, the shared watcher, files written to a block. A sequence is a generator that yields
`Step`s, each carrying the blocking and the asyncio way of doing one thing; `drive_steps` and
`adrive_steps` do them and resume the generator with the result, or throw into it what was
raised (cancellation included), so the decisions (what next, what to undo when a wait is
abandoned) are written once and the two drivers differ only in how they block.

A client is opened only when a step first needs one, unless the caller lends its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio

if TYPE_CHECKING:
    from cyberdesk_core import AsyncCyberdeskClient, CyberdeskClient
    from cyberdesk_prefect.credentials import CyberdeskCredentials

T = TypeVar("T")
R = TypeVar("R")


class Clients:
    """The blocking client of one driven sequence: the lent one, or one opened on first use."""

    def __init__(
        self,
        credentials: CyberdeskCredentials,
        lent: CyberdeskClient | None,
        stack: contextlib.ExitStack,
    ) -> None:
        self._credentials = credentials
        self._client = lent
        self._stack = stack

    def get(self) -> CyberdeskClient:
        """The client (opened now if none was lent or opened yet; closed by the driver)."""
        if self._client is None:
            self._client = self._stack.enter_context(self._credentials.get_client())
        return self._client


class AsyncClients:
    """The asyncio client of one driven sequence: the lent one, or one opened on first use."""

    def __init__(
        self,
        credentials: CyberdeskCredentials,
        lent: AsyncCyberdeskClient | None,
        stack: contextlib.AsyncExitStack,
    ) -> None:
        self._credentials = credentials
        self._client = lent
        self._stack = stack

    async def get(self) -> AsyncCyberdeskClient:
        """The client (opened now if none was lent or opened yet; closed by the driver)."""
        if self._client is None:
            opened = self._credentials.get_async_client()
            self._client = await self._stack.enter_async_context(opened)
        return self._client


@dataclass(frozen=True)
class Step(Generic[T]):
    """One thing to do, with its blocking and its asyncio form."""

    blocking: Callable[[Clients], T]
    asyncio: Callable[[AsyncClients], Awaitable[T]]


#: A sequence: yields steps, is resumed with each step's result, returns R.
Steps = Generator[Step[Any], Any, R]


def call(
    blocking: Callable[[CyberdeskClient], T],
    asyncio: Callable[[AsyncCyberdeskClient], Awaitable[T]],
) -> Step[T]:
    """A step that uses the Cyberdesk client, e.g. `call(lambda c: c.runs.get(i), ...)`."""

    async def with_async_client(clients: AsyncClients) -> T:
        return await asyncio(await clients.get())

    return Step(lambda clients: blocking(clients.get()), with_async_client)


def local(blocking: Callable[[], T], asyncio: Callable[[], Awaitable[T]]) -> Step[T]:
    """A step that needs no Cyberdesk client (Prefect API, artifacts, the watcher hub)."""
    return Step(lambda _clients: blocking(), lambda _clients: asyncio())


@dataclass(frozen=True)
class _Outcome:
    value: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class _Done(Generic[R]):
    value: R


def _resume(steps: Steps[R], last: _Outcome | None) -> Step[Any] | _Done[R]:
    """Resume `steps` with the outcome of its last step (None to start): next step or result."""
    try:
        if last is None:
            return next(steps)
        if last.error is not None:
            return steps.throw(last.error)
        return steps.send(last.value)
    except StopIteration as stop:
        return _Done(stop.value)


def drive_steps(
    credentials: CyberdeskCredentials, steps: Steps[R], *, client: CyberdeskClient | None = None
) -> R:
    """Run `steps` to the end, blocking; `client` is lent to them, else opened when needed."""
    with contextlib.ExitStack() as stack:
        clients = Clients(credentials, client, stack)
        step = _resume(steps, None)
        while not isinstance(step, _Done):
            try:
                outcome = _Outcome(step.blocking(clients))
            except BaseException as exc:  # the sequence decides: undo what it must, re-raise
                outcome = _Outcome(error=exc)
            step = _resume(steps, outcome)
        return step.value


async def adrive_steps(
    credentials: CyberdeskCredentials,
    steps: Steps[R],
    *,
    client: AsyncCyberdeskClient | None = None,
) -> R:
    """Run `steps` to the end on the running loop; `client` is lent, else opened when needed."""
    stack = contextlib.AsyncExitStack()
    try:
        clients = AsyncClients(credentials, client, stack)
        step = _resume(steps, None)
        while not isinstance(step, _Done):
            try:
                outcome = _Outcome(await step.asyncio(clients))
            except BaseException as exc:  # the sequence decides: undo what it must, re-raise
                outcome = _Outcome(error=exc)
            step = _resume(steps, outcome)
        return step.value
    finally:
        # Shielded: the caller's scope may be cancelled already, and a client opened here to
        # cancel abandoned runs must still be closed.
        with anyio.CancelScope(shield=True):
            await stack.aclose()
