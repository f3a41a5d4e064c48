"""Fixtures of the real-browser tests: headless Chromium driven by Playwright.

Runs in ``.venvs/browser`` (``scripts/setup-env.sh browser``: Playwright and pytest only). The
browser is Debian's ``chromium`` (``scripts/setup-browser.sh``); Playwright never downloads one
of its own. The emulator the pages come from is ``served_emulator.serve``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

# The Debian package's binary; /usr/bin/chromium is a shell wrapper around it.
CHROMIUM_BINARIES = ("/usr/lib/chromium/chromium", "chromium")


def chromium_path() -> str:
    """The system Chromium, or a failure saying how to install it."""
    for candidate in CHROMIUM_BINARIES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("chromium is missing: run scripts/setup-browser.sh (or make test-browser)")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless system Chromium."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (its own cache and downloads) and page."""
    context = browser.new_context(accept_downloads=True)
    yield context.new_page()
    context.close()
