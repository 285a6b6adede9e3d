"""The three services as real processes, started once per session against the session's MongoDB and Kafka, an
HTTP client for the API, and a local HTTP server for `http-request` actions to call.

The services get a database and a topic prefix of their own, so that no other test's documents or messages
reach them. When an e2e test fails, the tail of every service's log is added to its report.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Generator, Iterator

import httpx
import pytest
from playwright.async_api import Browser, async_playwright
from tests.e2e.chromium import NoChromium, find_chromium
from tests.e2e.target import TargetServer

from wfa_devstack import ServiceStack, start_services

STACK_START_TIMEOUT = 120.0
LOG_LINES_ON_FAILURE = 60

# A secret the runner holds, for `{{ secrets.E2E_TOKEN }}` in the e2e workflows (tests/e2e/test_security.py).
E2E_SECRET_VALUE = "e2e-Sup3r/s3cret value"
# The secret webhook requests are signed with; the workflows service verifies them (tests/e2e/test_webhooks.py).
WEBHOOK_SECRET_VALUE = "e2e-webhook-s3cret"
# The API key examples/publish-release.json logs in with (tests/e2e/test_example_publish_release.py).
RELEASES_API_KEY = "rk-e2e-0123456789"

E2E_ENV = {
    "WFA_ALLOW_PRIVATE_NETWORKS": "true",
    "WFA_SECRET_E2E_TOKEN": E2E_SECRET_VALUE,
    "WFA_SECRET_RELEASES_API_KEY": RELEASES_API_KEY,
    "WFA_SECRET_E2E_WEBHOOK_SECRET": WEBHOOK_SECRET_VALUE,
    "WFA_LOG_FORMAT": "console",
    "WFA_LOG_LEVEL": "info",
    # Teardown should not wait for the default 25 s drain; nothing the tests leave running needs it.
    "WFA_SHUTDOWN_GRACE_SECONDS": "5",
}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    report = yield
    if isinstance(report, pytest.TestReport) and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            if isinstance(value, ServiceStack):
                report.sections.append((f"service logs ({name})", value.logs(LOG_LINES_ON_FAILURE)))
    return report


def sibling_database(mongo_url: str, suffix: str) -> str:
    """`mongo_url` with `suffix` appended to its database name (options kept)."""
    base, _, options = mongo_url.partition("?")
    server, _, database = base.rpartition("/")
    url = f"{server}/{database}{suffix}"
    return f"{url}?{options}" if options else url


@pytest.fixture(scope="session")
def services(mongo_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceStack]:
    stack = start_services(
        sibling_database(mongo_url, "_e2e"),
        kafka_bootstrap,
        f"e2e.{uuid.uuid4().hex[:12]}.",
        extra_env=E2E_ENV,
        log_dir=tmp_path_factory.mktemp("services"),
        timeout=STACK_START_TIMEOUT,
    )
    with stack:
        yield stack


@pytest.fixture(autouse=True)
def _services_stay_up(request: pytest.FixtureRequest) -> Iterator[None]:
    """A service that crashed during a test fails that test, with its log."""
    yield
    if "services" in request.fixturenames:
        stack: ServiceStack = request.getfixturevalue("services")
        stack.check_running()


@pytest.fixture(scope="session")
async def api(services: ServiceStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=services.api_url, timeout=15.0) as client:
        yield client


@pytest.fixture(scope="session")
def target() -> Iterator[TargetServer]:
    server = TargetServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
async def chromium_path() -> str:
    """A Chromium for the dashboard tests (tests/e2e/chromium.py): found, installed (root), or one clear failure."""
    async with async_playwright() as playwright:
        own = playwright.chromium.executable_path
    try:
        return find_chromium(own)
    except NoChromium as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """One Chromium for every dashboard test; each test opens a context (cookies, storage) of its own."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium_path)
        try:
            yield launched
        finally:
            await launched.close()
