"""The README's walk-through, examples/publish-release.json, run as it stands against a local stand-in for its two
APIs: it logs in, passes the token on, creates and publishes a release, posts a summary; when publishing fails, it
deletes the draft it created and pages on-call. Only the hosts are changed, to the local target's."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import RELEASES_API_KEY
from tests.e2e.helpers import create_workflow, run_to_end
from tests.e2e.target import TargetServer

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).parents[2] / "examples" / "publish-release.json"
TOKEN = "tok-7f3a"
RELEASE_ID = "rel-42"


class StandIn:
    """The releases API and the chat hooks of the example, under a path prefix of their own on the target."""

    def __init__(self, target: TargetServer) -> None:
        self.target = target
        self.prefix = f"/{uuid.uuid4().hex[:10]}"
        self.login = f"{self.prefix}/releases/auth/token"
        self.create = f"{self.prefix}/releases/releases"
        self.release = f"{self.create}/{RELEASE_ID}"
        self.publish = f"{self.release}/publish"
        self.announce = f"{self.prefix}/chat/hooks/releases"
        self.on_call = f"{self.prefix}/chat/hooks/on-call"
        target.respond(self.login, 200, {"token": TOKEN, "expiresIn": 3600})
        target.respond(self.create, 201, {"id": RELEASE_ID, "draft": True})
        target.respond(self.publish, 200, {"url": f"https://releases.example.com/r/{RELEASE_ID}"})

    def definition(self) -> dict[str, Any]:
        text = EXAMPLE.read_text()
        text = text.replace("https://releases.example.com/", self.target.url(f"{self.prefix}/releases/"))
        text = text.replace("https://chat.example.com/", self.target.url(f"{self.prefix}/chat/"))
        definition: dict[str, Any] = json.loads(text)
        definition["workflowId"] = f"publish-release-{self.prefix[1:]}"
        return definition

    def body(self, path: str) -> Any:
        (request,) = self.target.requests(path)
        return request.json()


async def test_the_example_logs_in_passes_the_token_and_announces(api: httpx.AsyncClient, target: TargetServer) -> None:
    apis = StandIn(target)
    workflow_id = (await create_workflow(api, apis.definition()))["workflowId"]

    execution = await run_to_end(
        api, workflow_id, {"input": {"version": "1.4.0", "notes": "Faster retries", "announce": True}}
    )

    assert execution["status"] == "succeeded", execution
    assert apis.body(apis.login) == {"client": "wfa", "apiKey": RELEASES_API_KEY}
    (create,) = target.requests(apis.create)
    assert create.headers["authorization"] == f"Bearer {TOKEN}"
    assert create.json() == {"version": "1.4.0", "notes": "Faster retries", "draft": True}
    assert target.count(apis.publish) == 1
    assert apis.body(apis.announce) == {
        "text": f"Release 1.4.0 is out: https://releases.example.com/r/{RELEASE_ID}",
        "release": {"id": RELEASE_ID, "draft": True},  # a whole-value reference keeps its JSON type
    }
    assert execution["actions"][0]["output"]["body"] == {"token": TOKEN, "expiresIn": 3600}
    assert RELEASES_API_KEY not in json.dumps(execution)


async def test_a_false_when_skips_the_announcement(api: httpx.AsyncClient, target: TargetServer) -> None:
    apis = StandIn(target)
    workflow_id = (await create_workflow(api, apis.definition()))["workflowId"]

    execution = await run_to_end(api, workflow_id, {"input": {"version": "1.4.1", "notes": "", "announce": False}})

    assert execution["status"] == "succeeded", execution
    assert execution["actions"][3]["status"] == "skipped"
    assert target.count(apis.announce) == 0


async def test_a_failed_publish_deletes_the_draft_and_pages_on_call(
    api: httpx.AsyncClient, target: TargetServer
) -> None:
    apis = StandIn(target)
    target.respond(apis.publish, 409, {"error": "version already published"})
    workflow_id = (await create_workflow(api, apis.definition()))["workflowId"]

    execution = await run_to_end(api, workflow_id, {"input": {"version": "1.4.0", "notes": "", "announce": True}})

    assert execution["status"] == "failed", execution
    assert execution["error"]["action"] == "publish"
    (delete,) = target.requests(apis.release)
    assert (delete.method, delete.headers["authorization"]) == ("DELETE", f"Bearer {TOKEN}")
    assert [(run["name"], run["status"]) for run in execution["compensations"]] == [("delete-draft", "succeeded")]
    page = apis.body(apis.on_call)["text"]
    assert page.startswith("publish-release 1.4.0 failed at publish: "), page
    assert "409" in page
    assert target.count(apis.announce) == 0
