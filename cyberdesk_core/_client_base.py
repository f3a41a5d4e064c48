"""What the blocking and the asyncio client share apart from I/O (and `async with` support)."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from typing_extensions import Self

if TYPE_CHECKING:
    from cyberdesk_core.transport import RetryPolicy, TransportBase

__all__ = ["AsyncClosing", "ClientBase", "Group"]

TransportT = TypeVar("TransportT", bound="TransportBase")


class Group(Generic[TransportT]):
    """Base of the resource groups (`client.runs`, `client.pools`, ...): holds the transport."""

    def __init__(self, transport: TransportT) -> None:
        self._transport = transport


class ClientBase(Generic[TransportT]):
    """Accessors both clients expose; `_transport` is set by the subclass constructor."""

    _transport: TransportT

    @property
    def base_url(self) -> str:
        """API base URL without a trailing slash."""
        return self._transport.config.base_url

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy in effect."""
        return self._transport.policy

    def run_url(self, run_id: str) -> str:
        """Dashboard URL of a run."""
        return self._transport.config.run_url(run_id)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"


class _SupportsAclose(Protocol):
    async def aclose(self) -> None: ...


class AsyncClosing:
    """`async with` support for a class whose `aclose()` releases it."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self: _SupportsAclose,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
