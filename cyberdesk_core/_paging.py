"""Iterate list endpoints across pages (sync and async share `next_skip`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

from cyberdesk_core.errors import ConfigurationError
from cyberdesk_core.models import Page

T = TypeVar("T")

__all__ = ["aiter_pages", "iter_pages", "next_skip"]


def next_skip(page: Page[T], skip: int) -> int | None:
    """Offset of the next page, or None when this page was the last one."""
    if not page.items:
        return None
    nxt = skip + len(page.items)
    return nxt if nxt < page.total else None


def _check(page_size: int) -> None:
    if not 1 <= page_size <= 1000:
        raise ConfigurationError(f"page_size must be between 1 and 1000, got {page_size}.")


def iter_pages(fetch: Callable[[int, int], Page[T]], page_size: int) -> Iterator[T]:
    """Yield every item, fetching `page_size` items at a time."""
    _check(page_size)
    skip: int | None = 0
    while skip is not None:
        page = fetch(skip, page_size)
        yield from page.items
        skip = next_skip(page, skip)


async def aiter_pages(
    fetch: Callable[[int, int], Awaitable[Page[T]]], page_size: int
) -> AsyncIterator[T]:
    """Async version of `iter_pages`."""
    _check(page_size)
    skip: int | None = 0
    while skip is not None:
        page = await fetch(skip, page_size)
        for item in page.items:
            yield item
        skip = next_skip(page, skip)
