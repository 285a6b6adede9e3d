"""What the dashboard's browser tests share: a page that records its console errors, and where screenshots go."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.async_api import Browser, Page, ViewportSize

DESKTOP: ViewportSize = {"width": 1280, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
UI_TIMEOUT_MS = 15_000
# Chromium reports every 4xx answer as a console error; where a test expects one (a refused key), it says so.
REFUSED = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


class Console:
    """Every console error and uncaught exception of a page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def unexpected(self, *expected_statuses: int) -> list[str]:
        allowed = {str(status) for status in expected_statuses}
        return [e for e in self.errors if not ((m := REFUSED.match(e)) and m.group(1) in allowed)]


async def open_page(browser: Browser, base_url: str, viewport: ViewportSize) -> tuple[Page, Console]:
    context = await browser.new_context(viewport=viewport, base_url=base_url)
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = await context.new_page()
    return page, Console(page)


def screenshots_folder(default: Path) -> Path:
    """docs/img/ (or any folder) with WFA_SCREENSHOTS set, as `make screenshots` does; `default` otherwise."""
    chosen = os.environ.get("WFA_SCREENSHOTS")
    folder = Path(chosen) if chosen else default
    folder.mkdir(parents=True, exist_ok=True)
    return folder
