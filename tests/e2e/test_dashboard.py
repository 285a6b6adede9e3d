"""The dashboard at /ui in a real browser (Chromium through Playwright) against the real stack: every page, the
buttons that change things, the live execution view, and no console error anywhere.

Screenshots go to a temporary folder, or to docs/img/ with WFA_SCREENSHOTS=docs/img (`make screenshots`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from tests.e2e.browser import DESKTOP, PHONE, open_page, screenshots_folder
from tests.e2e.helpers import (
    create_manual_workflow,
    get_json,
    http_action,
    log_action,
    manual_workflow,
    trigger,
    wait_for_execution,
    wait_for_idle,
    wait_for_requests,
)
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshots_folder(tmp_path_factory.mktemp("screenshots"))


@pytest.fixture
async def page(browser: Browser, services: ServiceStack) -> AsyncIterator[Page]:
    page, console = await open_page(browser, services.api_url, DESKTOP)
    yield page
    await page.context.close()
    assert console.errors == [], console.errors


@pytest.fixture
async def phone(browser: Browser, services: ServiceStack) -> AsyncIterator[Page]:
    page, console = await open_page(browser, services.api_url, PHONE)
    yield page
    await page.context.close()
    assert console.errors == [], console.errors


async def test_the_page_is_served_without_a_key_and_redirects_to_its_folder(api: httpx.AsyncClient) -> None:
    response = await api.get("/ui", follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/ui/")
    assert "text/html" in response.headers["content-type"]


async def test_a_workflow_triggered_from_the_list_is_followed_live_to_succeeded(
    page: Page, api: httpx.AsyncClient, target: TargetServer, screenshots: Path
) -> None:
    held = target.path("ui-live")
    target.hold(held)
    workflow_id = await create_manual_workflow(
        api,
        "ui-live",
        log_action("hello {{ input.who }}", name="greet"),
        http_action(target.url(held), name="call", timeout="30s"),
        log_action("done", name="finish"),
        labels={"team": "ui"},
    )

    await page.goto(f"/ui/#/workflows?q={workflow_id}")
    row = page.get_by_role("row").filter(has_text=workflow_id)
    await row.get_by_role("button", name="Trigger").click()
    await page.locator("#trigger-input").fill('{"who": "dashboard"}')
    await page.locator("#trigger-submit").click()

    await expect(page).to_have_url(re.compile(r"#/executions/[^/]+$"))
    execution_id = page.url.rsplit("/", 1)[1]
    await expect(page.locator("h1 .badge")).to_have_text("running")
    await expect(page.locator(".live")).to_contain_text("live")
    await wait_for_requests(target, held, 1)
    target.release(held)

    await expect(page.locator("h1 .badge")).to_have_text("succeeded")
    await expect(page.locator(".gantt .bar.succeeded")).to_have_count(3)
    await expect(page.get_by_role("row").filter(has_text="greet")).to_contain_text("succeeded")
    await expect(page.locator("pre").filter(has_text='"who": "dashboard"')).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    execution = await get_json(api, f"/executions/{execution_id}")
    assert execution["status"] == "succeeded"
    assert execution["input"] == {"who": "dashboard"}
    await page.get_by_role("row").filter(has_text="greet").get_by_text("output").click()
    await page.screenshot(path=screenshots / "execution.png", full_page=True)

    await page.goto(f"/ui/#/workflows?q={workflow_id}")
    row = page.get_by_role("row").filter(has_text=workflow_id)
    await expect(row.get_by_role("link", name="succeeded")).to_be_visible()  # the last run
    await expect(row).to_contain_text("100 %")
    await page.goto("/ui/#/workflows")
    await expect(page.get_by_role("link", name=workflow_id)).to_be_visible()
    await page.screenshot(path=screenshots / "workflows.png")


async def test_a_failed_execution_shows_its_error_compensations_and_failure_handler(
    page: Page, api: httpx.AsyncClient, target: TargetServer, screenshots: Path
) -> None:
    refused = target.path("ui-refused")
    target.respond(refused, 400, {"error": "no such item"})
    workflow_id = await create_manual_workflow(
        api,
        "ui-saga",
        log_action("reserved", name="reserve", compensate=log_action("released")),
        http_action(target.url(refused), name="charge"),
        onFailure=[log_action("failed at {{ error.action }}", name="notify")],
    )
    execution_id = await trigger(api, workflow_id)
    await wait_for_execution(api, execution_id)

    await page.goto(f"/ui/#/executions/{execution_id}")
    await expect(page.locator("h1 .badge")).to_have_text("failed")
    await expect(page.get_by_role("alert")).to_contain_text("charge")
    await expect(page.get_by_role("heading", name="Compensations")).to_be_visible()
    await expect(page.get_by_role("heading", name="On failure")).to_be_visible()
    await expect(page.locator(".gantt .bar.failed")).to_have_count(1)
    await expect(page.get_by_role("button", name="Retry")).to_be_visible()
    await expect(page.get_by_role("button", name="Cancel")).to_be_hidden()
    await page.screenshot(path=screenshots / "execution-failed.png", full_page=True)


async def test_a_retried_action_shows_each_attempt_and_the_waits_and_the_trace_id(
    page: Page, api: httpx.AsyncClient, target: TargetServer, screenshots: Path
) -> None:
    flaky = target.path("ui-flaky")
    target.respond_in_turn(flaky, 503, 200)
    workflow_id = await create_manual_workflow(
        api,
        "ui-retried",
        log_action("start", name="start"),
        http_action(target.url(flaky), name="flaky"),
        retry={"maxAttempts": 3, "initialInterval": "4s"},
    )
    trace_id = secrets.token_hex(16)
    response = await api.post(
        f"/workflows/{workflow_id}/trigger",
        json={},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    execution_id = response.json()["executionId"]

    await page.goto(f"/ui/#/executions/{execution_id}")
    lane = page.locator(".gantt .lane").nth(1)
    await expect(page.locator("h1 .badge")).to_have_text("pending", timeout=10_000)
    await expect(lane.locator(".wait.next")).to_have_count(1)  # the wait for the retry, until nextRetryAt
    await expect(page.locator("h1 .badge")).to_have_text("succeeded", timeout=15_000)
    await expect(lane.locator(".bar")).to_have_count(2)
    await expect(lane.locator(".bar.failed")).to_have_attribute("data-attempt", "1")
    await expect(lane.locator(".bar.succeeded")).to_have_attribute("data-attempt", "2")
    await expect(lane.locator(".wait")).to_contain_text(re.compile(r"wait \d"))
    await expect(page.get_by_role("row").filter(has_text="flaky")).to_contain_text("1 earlier attempt(s)")
    execution = await get_json(api, f"/executions/{execution_id}")
    assert [p["outcome"] for p in execution["actions"][1]["previous"]] == ["failed"]

    assert execution["traceId"] == trace_id
    await expect(page.locator("#trace-id")).to_have_text(trace_id)
    await page.get_by_role("button", name="Copy the trace id").click()
    await expect(page.locator("#toast")).to_contain_text("Trace id")
    await page.screenshot(path=screenshots / "execution-retried.png", full_page=True)


async def test_a_held_execution_is_cancelled_and_retried_from_its_page(
    page: Page, api: httpx.AsyncClient, target: TargetServer
) -> None:
    held = target.path("ui-cancel")
    target.hold(held)
    workflow_id = await create_manual_workflow(api, "ui-cancel", http_action(target.url(held), timeout="30s"))
    execution_id = await trigger(api, workflow_id)
    await wait_for_requests(target, held, 1)

    await page.goto(f"/ui/#/executions/{execution_id}")
    await expect(page.locator("h1 .badge")).to_have_text("running")
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.locator("h1 .badge")).to_have_text("cancelled")
    target.release(held)
    assert (await get_json(api, f"/executions/{execution_id}"))["status"] == "cancelled"

    await wait_for_idle(api, workflow_id)
    await page.get_by_role("button", name="Retry").click()
    await expect(page).not_to_have_url(re.compile(re.escape(execution_id)))
    await expect(page.locator("dl.facts")).to_contain_text(execution_id)  # "Retry of"
    retried = page.url.rsplit("/", 1)[1]
    assert (await get_json(api, f"/executions/{retried}"))["retryOf"] == execution_id


async def test_a_queued_workflow_shows_its_waiting_executions_and_a_waiting_one_says_so(
    page: Page, api: httpx.AsyncClient, target: TargetServer
) -> None:
    held = target.path("ui-queue")
    target.hold(held)
    workflow_id = await create_manual_workflow(
        api,
        "ui-queue",
        http_action(target.url(held), timeout="30s"),
        concurrency={"whenBusy": "queue", "queueMax": 5},
    )
    running = await trigger(api, workflow_id)
    waiting = [await trigger(api, workflow_id) for _ in range(2)]
    await wait_for_requests(target, held, 1)

    await page.goto(f"/ui/#/workflows/{workflow_id}")
    await expect(page.locator("dl.facts")).to_contain_text(f"busy by {running} · 2 waiting (next: {waiting[0]})")
    await page.goto(f"/ui/#/executions/{waiting[1]}")
    await expect(page.locator("h1")).to_contain_text("queued waiting for a slot")
    target.release(held)
    assert (await wait_for_execution(api, waiting[1]))["status"] == "succeeded"
    await expect(page.locator("h1 .badge")).to_have_text("succeeded")
    await expect(page.locator("h1")).not_to_contain_text("waiting for a slot")


async def test_a_workflow_is_paused_and_resumed_and_its_page_shows_a_version_diff(
    page: Page, api: httpx.AsyncClient, screenshots: Path
) -> None:
    workflow_id = await create_manual_workflow(api, "ui-versions", log_action("first"), labels={"team": "ui"})
    await wait_for_execution(api, await trigger(api, workflow_id))
    definition = {
        "workflowId": workflow_id,
        "trigger": {"type": "periodic", "interval": "1h"},
        "actions": [log_action("second"), log_action("third")],
        "labels": {"team": "ui", "tier": "gold"},
    }
    assert (await api.put(f"/workflows/{workflow_id}", json=definition)).status_code == 200

    await page.goto(f"/ui/#/workflows/{workflow_id}")
    side_by_side = page.get_by_label("Side-by-side diff")
    await expect(side_by_side.locator("thead th")).to_have_text(["v1 (before)", "v2 (after)"])
    await expect(side_by_side.locator("td.code.del").filter(has_text="first")).to_be_visible()
    await expect(side_by_side.locator("td.code.add").filter(has_text="second")).to_be_visible()
    # A removed line and the added line that replaces it share a row: the two columns are aligned.
    changed = (
        side_by_side.locator("tbody tr").filter(has=page.locator("td.code.del")).filter(has=page.locator("td.code.add"))
    )
    await expect(changed.first).to_be_visible()
    await page.get_by_role("button", name="Unified").click()
    diff = page.get_by_label("Unified diff")
    await expect(diff.locator(".add").filter(has_text="second")).to_be_visible()
    await expect(diff.locator(".del").filter(has_text="first")).to_be_visible()
    await expect(side_by_side).to_be_hidden()
    await page.get_by_role("button", name="Side by side").click()
    await expect(side_by_side).to_be_visible()
    await expect(diff).to_be_hidden()
    await expect(page.get_by_label("Definition as YAML")).to_contain_text("interval: 1h")
    await expect(page.locator("ol.mono li")).to_have_count(5)  # the next fires
    await expect(page.locator(".tiles")).to_contain_text("executions")
    await expect(page.locator(".chart canvas")).to_have_count(2)
    await page.screenshot(path=screenshots / "workflow.png", full_page=True)

    await page.get_by_role("button", name="Pause").click()
    await expect(page.locator("h1 .badge")).to_have_text("paused")
    assert (await get_json(api, f"/workflows/{workflow_id}"))["enabled"] is False
    await page.get_by_role("button", name="Resume").click()
    await expect(page.locator("h1 .badge")).to_have_text("idle")
    assert (await get_json(api, f"/workflows/{workflow_id}"))["enabled"] is True


async def test_executions_are_filtered_by_workflow_and_status(page: Page, api: httpx.AsyncClient) -> None:
    workflow_id = await create_manual_workflow(api, "ui-filter", log_action("x"))
    execution_id = await trigger(api, workflow_id)
    await wait_for_execution(api, execution_id)

    await page.goto("/ui/#/executions")
    await page.get_by_label("Workflow").fill(workflow_id)
    await page.get_by_label("Status").select_option("succeeded")
    await page.get_by_role("button", name="Filter").click()
    await expect(page).to_have_url(re.compile(rf"workflowId={workflow_id}"))
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text(execution_id)

    await page.get_by_label("Status").select_option("failed")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.get_by_text("No executions match.")).to_be_visible()


async def test_the_overview_shows_the_last_day(page: Page, api: httpx.AsyncClient, screenshots: Path) -> None:
    workflow_id = await create_manual_workflow(api, "ui-overview", log_action("x"))
    await wait_for_execution(api, await trigger(api, workflow_id))

    await page.goto("/ui/")
    await expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    await expect(page.locator(".tiles .tile")).to_have_count(6)
    await expect(page.locator(".chart canvas")).to_have_count(1)
    await expect(page.get_by_role("heading", name="Slowest workflows")).to_be_visible()
    await page.screenshot(path=screenshots / "overview.png", full_page=True)

    await page.get_by_role("link", name="Workflows", exact=True).click()
    await expect(page.get_by_role("heading", name="Workflows")).to_be_visible()


async def test_the_pages_fit_a_phone_and_are_keyboard_reachable(
    phone: Page, api: httpx.AsyncClient, screenshots: Path
) -> None:
    workflow_id = await create_manual_workflow(api, "ui-phone", log_action("x"), labels={"team": "ui"})
    execution_id = await trigger(api, workflow_id)
    await wait_for_execution(api, execution_id)
    changed = manual_workflow(workflow_id, log_action("y"), labels={"team": "ui"})
    assert (await api.put(f"/workflows/{workflow_id}", json=changed)).status_code == 200

    pages = {
        "#/": "Overview",
        "#/workflows": "Workflows",
        f"#/workflows/{workflow_id}": workflow_id,
        "#/executions": "Executions",
        f"#/executions/{execution_id}": execution_id,
    }
    for path, heading in pages.items():
        await phone.goto(f"/ui/{path}")
        await expect(phone.locator("main h1")).to_contain_text(heading)
        await expect(phone.locator("main")).to_have_attribute("aria-busy", "false")  # every call answered
        overflow = await phone.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path} is {overflow}px wider than the phone"
    await phone.screenshot(path=screenshots / "execution-phone.png", full_page=True)

    await phone.goto(f"/ui/#/workflows/{workflow_id}")
    await expect(phone.get_by_label("Unified diff")).to_be_visible()  # two columns do not fit a phone
    await expect(phone.get_by_label("Side-by-side diff")).to_be_hidden()

    await phone.goto(f"/ui/#/workflows?q={workflow_id}")
    await phone.reload()  # a fresh document: keyboard focus starts at the top
    await expect(phone.get_by_role("button", name="Trigger")).to_be_visible()
    await phone.keyboard.press("Tab")
    await expect(phone.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(20):
        await phone.keyboard.press("Tab")
        focused = await phone.evaluate("document.activeElement.textContent")
        if focused == "Trigger":
            break
    else:
        raise AssertionError("the Trigger button is not reachable with Tab")
    await phone.screenshot(path=screenshots / "workflows-phone.png")
