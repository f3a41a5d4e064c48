"""Prefect-side sequences written once as generators, run by a blocking or an asyncio driver.

The core writes its request sequences once (`cyberdesk_core._steps`); this layer needs the same
for sequences that mix Cyberdesk requests with Prefect work: recording runs on the flow run,
artifacts, the shared watcher, files written to a block. A sequence is a generator that yields
`Step`s, each carrying the blocking and the asyncio way of doing one thing; `drive_steps` and
`adrive_steps` do them and resume the generator with the result, or throw into it what was
raised (cancellation included), so the decisions (what next, what to undo when a wait is
abandoned) are written once and the two drivers differ only in how they block.

A client is opened only when a step first needs one, unless the caller lends its own.
`blocking_method` / `asyncio_method` make the two methods of a block or run from one body.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

import anyio

from cyberdesk_core.aclient import AsyncCyberdeskClient
from cyberdesk_core.client import CyberdeskClient

if TYPE_CHECKING:
    from cyberdesk_prefect.credentials import CyberdeskCredentials

T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C")
X = TypeVar("X")
P = ParamSpec("P")
M = TypeVar("M", bound=Callable[..., Any])


class _ClientHolder(Generic[C, X]):
    """The client of one driven sequence: the lent one, or one opened on first use."""

    def __init__(self, credentials: CyberdeskCredentials, lent: C | None, stack: X) -> None:
        self._credentials = credentials
        self._client = lent
        self._stack = stack


class Clients(_ClientHolder[CyberdeskClient, contextlib.ExitStack]):
    """The blocking client of one driven sequence."""

    def get(self) -> CyberdeskClient:
        """The client (opened now if none was lent or opened yet; closed by the driver)."""
        if self._client is None:
            self._client = self._stack.enter_context(self._credentials.get_client())
        return self._client


class AsyncClients(_ClientHolder[AsyncCyberdeskClient, contextlib.AsyncExitStack]):
    """The asyncio client of one driven sequence."""

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


class HasCredentials(Protocol):
    """An object whose methods drive steps with its credentials (the blocks and the run)."""

    @property
    def credentials(self) -> CyberdeskCredentials:
        """The Cyberdesk credentials block."""


S = TypeVar("S", bound=HasCredentials)


def blocking_method(
    name: str, body: Callable[Concatenate[S, P], Steps[R]]
) -> Callable[Concatenate[S, P], R]:
    """Method `name` that drives the steps of `body(self, ...)` with the blocking driver."""

    def method(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return drive_steps(self.credentials, body(self, *args, **kwargs))

    return _named(method, name, body.__doc__)


def asyncio_method(
    name: str, body: Callable[Concatenate[S, P], Steps[R]]
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Method `name` that drives the steps of `body(self, ...)` on the running loop."""

    async def method(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await adrive_steps(self.credentials, body(self, *args, **kwargs))

    return _named(method, name, body.__doc__)


def asyncio_method_of_any_result(
    name: str, body: Callable[Concatenate[S, P], Steps[R]]
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, Any]]:
    """`asyncio_method`, its result typed `Any`: for an override of a method whose result type
    Prefect declares wrongly (`JobRun.wait_for_completion -> Logger`), without a type ignore."""
    return asyncio_method(name, body)


def _named(method: M, name: str, doc: str | None) -> M:
    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    return method
