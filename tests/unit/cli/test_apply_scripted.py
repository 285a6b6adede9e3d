"""`wfa apply` where the in-memory API cannot show it yet: labels and pruning, and a server refusing a workflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import yaml
from tests.unit.cli.conftest import ScriptedServer, flow, problem, write

from wfa.domain.workflow import WorkflowDefinition


class Store:
    """Workflows by id, served as the API does; the list filters by `label` only when `filters` is set."""

    def __init__(self, *resources: dict[str, Any], filters: bool = True) -> None:
        self.resources = {resource["workflowId"]: resource for resource in resources}
        self.filters = filters

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path == "/workflows":
            items = list(self.resources.values())
            if self.filters:
                for label in request.url.params.get_list("label"):
                    key, _, value = label.partition("=")
                    items = [item for item in items if (item.get("labels") or {}).get(key) == value]
            return httpx.Response(200, json={"items": items, "nextCursor": None})
        workflow_id = path.removeprefix("/workflows/")
        if request.method == "GET":
            if workflow_id not in self.resources:
                return problem(404, "Not Found", f"no workflow {workflow_id!r}")
            return httpx.Response(200, json=self.resources[workflow_id], headers={"etag": '"1"'})
        if request.method == "POST":
            body = json.loads(request.content)
            self.resources[body["workflowId"]] = resource(body["workflowId"])
            return httpx.Response(201, json=self.resources[body["workflowId"]])
        if request.method == "DELETE":
            del self.resources[workflow_id]
            return httpx.Response(204)
        return problem(405, "Method Not Allowed", request.method)


def resource(workflow_id: str, **labels: str) -> dict[str, Any]:
    """The resource the API serves for `flow(workflow_id)`, with labels (as the server will once it has them)."""
    definition = WorkflowDefinition.model_validate(yaml.safe_load(flow(workflow_id)))
    served: dict[str, Any] = definition.model_dump(mode="json", by_alias=True)
    served["trigger"] |= {"status": "idle", "executionId": None, "nextRunAt": None, "running": 0}
    return served | {"labels": labels or None, "version": 1, "enabled": True, "createdAt": "2026-05-01T08:00:00Z"}


def test_prune_without_a_selector_is_a_usage_error(tmp_path: Path) -> None:
    server = ScriptedServer(Store())

    run = server.run("apply", "-f", str(write(tmp_path, "a.yaml", flow("a"))), "--prune")

    assert run.code == 2
    assert "--prune needs --selector" in run.err
    assert server.requests == []


def test_a_selector_that_is_not_key_value_is_a_usage_error(tmp_path: Path) -> None:
    run = ScriptedServer(Store()).run("apply", "-f", str(write(tmp_path, "a.yaml", flow("a"))), "--prune", "-l", "team")

    assert run.code == 2


def test_prune_deletes_the_labelled_workflows_the_files_no_longer_hold(tmp_path: Path) -> None:
    store = Store(resource("kept", team="ops"), resource("gone", team="ops"), resource("other", team="web"))
    server = ScriptedServer(store)

    run = server.run(
        "apply",
        "-f",
        str(write(tmp_path, "kept.yaml", flow("kept") + "labels:\n  team: ops\n")),
        "--prune",
        "--selector",
        "team=ops",
    )

    assert run.code == 0, run.err
    assert run.out.splitlines() == ["unchanged kept", "deleted gone", "1 unchanged, 1 deleted"]
    assert sorted(store.resources) == ["kept", "other"]
    (listing,) = [r for r in server.sent("GET") if r.url.path == "/workflows"]
    assert listing.url.params.get_list("label") == ["team=ops"]


def test_prune_never_deletes_what_does_not_carry_the_label_even_if_the_server_lists_it(tmp_path: Path) -> None:
    store = Store(resource("unlabelled"), resource("gone", team="ops"), filters=False)
    server = ScriptedServer(store)

    run = server.run("apply", "-f", str(write(tmp_path, "a.yaml", flow("a"))), "--prune", "-l", "team=ops")

    assert run.code == 0
    assert "unlabelled" in store.resources and "gone" not in store.resources


def test_prune_with_dry_run_deletes_nothing(tmp_path: Path) -> None:
    store = Store(resource("gone", team="ops"))
    server = ScriptedServer(store)

    run = server.run("apply", "-f", str(write(tmp_path, "a.yaml", flow("a"))), "--prune", "-l", "team=ops", "--dry-run")

    assert "would be deleted gone" in run.out
    assert server.sent("DELETE") == [] and server.sent("POST") == []


def test_a_workflow_the_server_refuses_is_failed_the_others_applied_and_the_exit_code_is_1(tmp_path: Path) -> None:
    store = Store()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and json.loads(request.content)["workflowId"] == "refused":
            return problem(
                422,
                "Unprocessable Content",
                "trigger.type: not supported",
                errors=[{"loc": ["body", "trigger", "type"], "msg": "not supported"}],
            )
        return store(request)

    server = ScriptedServer(handler)
    write(tmp_path, "a.yaml", flow("accepted"))
    write(tmp_path, "b.yaml", flow("refused"))

    run = server.run("apply", "-f", str(tmp_path))

    assert run.code == 1
    assert run.out.splitlines() == ["created accepted", "1 created, 1 failed"]
    assert run.err.splitlines() == [
        "error: refused: POST /workflows → 422 Unprocessable Content: trigger.type: not supported",
        "  body.trigger.type: not supported",
    ]


def test_an_update_sends_the_etag_as_if_match_and_a_412_fails_it(tmp_path: Path) -> None:
    store = Store(resource("w"))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return problem(412, "Precondition Failed", "the workflow is at version 2, not 1")
        return store(request)

    server = ScriptedServer(handler)

    run = server.run("apply", "-f", str(write(tmp_path, "w.yaml", flow("w", "changed"))))

    assert run.code == 1
    (put,) = server.sent("PUT")
    assert put.headers["if-match"] == '"1"'
    assert "412 Precondition Failed" in run.err


def test_a_401_stops_apply_at_once_with_one_line(tmp_path: Path) -> None:
    server = ScriptedServer(lambda request: problem(401, "Unauthorized", "a valid API key is needed"))
    write(tmp_path, "a.yaml", flow("a"))
    write(tmp_path, "b.yaml", flow("b"))

    run = server.run("apply", "-f", str(tmp_path))

    assert run.code == 1
    assert len(server.requests) == 1
    assert run.err.splitlines() == [
        "error: GET /workflows/a → 401 Unauthorized: a valid API key is needed (set the key with --api-key or "
        "WFA_API_KEY)"
    ]
