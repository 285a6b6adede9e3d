"""The dashboard with API keys set, in a real browser against a stack of its own: the page asks for a key once per
browser session and sends it as the Bearer header; a read-only key is offered no write buttons."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from tests.e2e.browser import DESKTOP, Console, open_page
from tests.e2e.conftest import E2E_ENV, STACK_START_TIMEOUT, sibling_database
from tests.e2e.helpers import log_action, manual_workflow, unique_id

from wfa_devstack import ServiceStack, start_services

pytestmark = pytest.mark.e2e

READ_WRITE_KEY = "ui-rw-" + uuid.uuid4().hex
READ_ONLY_KEY = "ui-ro-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def keyed_services(
    mongo_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceStack]:
    stack = start_services(
        sibling_database(mongo_url, "_e2e_keys"),
        kafka_bootstrap,
        f"e2e.{uuid.uuid4().hex[:12]}.",
        extra_env={**E2E_ENV, "WFA_API_KEYS": f"admin:{READ_WRITE_KEY}:rw,viewer:{READ_ONLY_KEY}:ro"},
        log_dir=tmp_path_factory.mktemp("keyed-services"),
        timeout=STACK_START_TIMEOUT,
    )
    with stack:
        yield stack


@pytest.fixture(scope="module")
async def workflow_id(keyed_services: ServiceStack) -> str:
    workflow_id = unique_id("ui-keys")
    headers = {"Authorization": f"Bearer {READ_WRITE_KEY}"}
    async with httpx.AsyncClient(base_url=keyed_services.api_url, headers=headers) as api:
        response = await api.post("/workflows", json=manual_workflow(workflow_id, log_action("x")))
        assert response.status_code == 201, response.text
    return workflow_id


@pytest.fixture
async def session(browser: Browser, keyed_services: ServiceStack) -> AsyncIterator[tuple[Page, Console]]:
    page, console = await open_page(browser, keyed_services.api_url, DESKTOP)
    yield page, console
    await page.context.close()


async def sign_in(page: Page, key: str, *, accepted: bool = True) -> None:
    dialog = page.get_by_role("dialog", name="API key")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("Key").fill(key)
    await dialog.get_by_role("button", name="Use this key").click()
    if accepted:
        await expect(dialog).to_be_hidden()


async def test_a_read_write_key_is_asked_for_once_and_offered_the_write_buttons(
    session: tuple[Page, Console], workflow_id: str
) -> None:
    page, console = session
    await page.goto(f"/ui/#/workflows?q={workflow_id}")
    await sign_in(page, READ_WRITE_KEY)

    row = page.get_by_role("row").filter(has_text=workflow_id)
    await expect(row.get_by_role("button", name="Trigger")).to_be_visible()
    await expect(page.locator("#access")).to_have_text("read-write key")

    await page.get_by_role("link", name="Executions", exact=True).click()
    await expect(page.get_by_role("heading", name="Executions")).to_be_visible()
    await page.reload()  # the same browser session: the key is kept, not asked for again
    await expect(page.locator("main table, main .muted").first).to_be_visible()
    await expect(page.get_by_role("dialog", name="API key")).to_be_hidden()
    assert console.unexpected(401, 422) == []  # the first call before the key; the access probe


async def test_a_refused_key_is_asked_for_again(session: tuple[Page, Console], workflow_id: str) -> None:
    page, console = session
    await page.goto("/ui/#/workflows")
    await sign_in(page, "not-a-key", accepted=False)
    await expect(page.locator("#key-error")).to_have_text("That key was not accepted.")
    await sign_in(page, READ_WRITE_KEY)
    await expect(page.get_by_role("link", name=workflow_id)).to_be_visible()
    assert console.unexpected(401, 422) == []


async def test_a_read_only_key_sees_no_write_buttons(session: tuple[Page, Console], workflow_id: str) -> None:
    page, console = session
    await page.goto(f"/ui/#/workflows/{workflow_id}")
    await sign_in(page, READ_ONLY_KEY)

    await expect(page.locator("#access")).to_have_text("read-only key")
    await expect(page.get_by_role("heading", name="Definition")).to_be_visible()
    await expect_write_buttons_hidden(page)
    await page.goto(f"/ui/#/workflows?q={workflow_id}")
    await expect(page.get_by_role("link", name=workflow_id)).to_be_visible()
    await expect_write_buttons_hidden(page)
    assert console.unexpected(401, 403) == []  # the first call before the key; the access probe


async def expect_write_buttons_hidden(page: Page) -> None:
    """The page made its write buttons (so it rendered them) and none of them shows."""
    buttons = page.locator("button.write")
    assert await buttons.count() >= 2
    for button in await buttons.all():
        await expect(button).to_be_hidden()
