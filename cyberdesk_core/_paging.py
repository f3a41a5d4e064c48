"""Iterate list endpoints across pages (sync and async share `next_skip` and the page calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

from cyberdesk_core._request import Call
from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.models import Page

T = TypeVar("T")

# The list call for the page at (skip, limit); built by the endpoint modules, sent by a transport.
PageCalls = Callable[[int, int], Call[Page[T]]]

__all__ = ["PageCalls", "aiter_pages", "iter_pages", "next_skip"]


def next_skip(page: Page[T], skip: int) -> int | None:
    """Offset of the next page, or None when this page was the last one."""
    if not page.items:
        return None
    nxt = skip + len(page.items)
    return nxt if nxt < page.total else None


def _check(page_size: int) -> None:
    if not 1 <= page_size <= 1000:
        raise ConfigurationError(f"page_size must be between 1 and 1000, got {page_size}.")


def iter_pages(
    send: Callable[[Call[Page[T]]], Page[T]], pages: PageCalls[T], page_size: int
) -> Iterator[T]:
    """Yield every item, sending `pages(skip, page_size)` for one page after another."""
    _check(page_size)
    skip: int | None = 0
    while skip is not None:
        page = send(pages(skip, page_size))
        yield from page.items
        skip = next_skip(page, skip)


async def aiter_pages(
    send: Callable[[Call[Page[T]]], Awaitable[Page[T]]], pages: PageCalls[T], page_size: int
) -> AsyncIterator[T]:
    """Async version of `iter_pages`."""
    _check(page_size)
    skip: int | None = 0
    while skip is not None:
        page = await send(pages(skip, page_size))
        for item in page.items:
            yield item
        skip = next_skip(page, skip)
