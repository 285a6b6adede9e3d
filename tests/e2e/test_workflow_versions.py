"""Versions, ETag/If-Match and labels through the real API, on the real MongoDB-wire store."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import jsonpatch
import pytest

pytestmark = pytest.mark.e2e

METADATA = ("version", "updatedAt", "changedBy")


def _definition(workflow_id: str, **changes: Any) -> dict[str, Any]:
    # Manual: nothing fires while the test runs.
    return {
        "workflowId": workflow_id,
        "trigger": {"type": "manual"},
        "actions": [{"type": "log", "message": "hello"}],
        **changes,
    }


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def test_etag_guards_updates_and_versions_outlive_the_workflow(api: httpx.AsyncClient) -> None:
    workflow_id = _unique("versioned")
    path = f"/workflows/{workflow_id}"
    assert (await api.post("/workflows", json=_definition(workflow_id))).status_code == 201
    etag = (await api.get(path)).headers["etag"]
    assert etag == '"1"'

    second = await api.put(path, json=_definition(workflow_id, description="two"), headers={"If-Match": etag})
    stale = await api.put(path, json=_definition(workflow_id, description="stale"), headers={"If-Match": etag})
    weak = await api.put(
        path,
        json=_definition(workflow_id, description="three", actions=[{"type": "log", "message": "bye"}]),
        headers={"If-Match": 'W/"2"'},
    )
    assert (second.status_code, second.headers["etag"]) == (200, '"2"')
    assert stale.status_code == 412
    assert (weak.status_code, weak.headers["etag"]) == (200, '"3"')

    assert (await api.delete(path)).status_code == 204
    listed = (await api.get(f"{path}/versions")).json()
    assert [(i["version"], i["changes"]) for i in listed["items"]] == [
        (3, ["description", "actions[0].message"]),
        (2, ["description"]),
        (1, []),
    ]
    first = (await api.get(f"{path}/versions/1")).json()
    third = (await api.get(f"{path}/versions/3")).json()
    diff = (await api.get(f"{path}/versions/3/diff", params={"against": 1})).json()
    assert (diff["from"], diff["to"]) == (1, 3)

    def definition(body: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in body.items() if key not in METADATA}

    assert jsonpatch.apply_patch(definition(first), diff["patch"]) == definition(third)
    assert "+description: three\n" in diff["text"]
    assert (await api.get(f"{path}/versions/4")).status_code == 404


async def test_the_list_filters_on_labels_in_workflow_id_order(api: httpx.AsyncClient) -> None:
    run = uuid.uuid4().hex[:10]
    ids = [f"labelled-{run}-{n}" for n in range(4)]
    labels = [
        {"app.kubernetes.io/name": run, "tier": "web"},
        {"app.kubernetes.io/name": run},
        {"app.kubernetes.io/name": run, "tier": "web"},
        {"app": run, "tier": "web"},  # `app` is not `app.kubernetes.io/name`, however it is stored
    ]
    for workflow_id, workflow_labels in zip(ids, labels, strict=True):
        response = await api.post("/workflows", json=_definition(workflow_id, labels=workflow_labels))
        assert response.status_code == 201, response.text
    try:
        selector = f"app.kubernetes.io/name={run}"
        seen: list[str] = []
        params: list[tuple[str, str | int | float | bool | None]] = [
            ("label", selector),
            ("label", "tier=web"),
            ("limit", 1),
        ]
        while True:
            page = (await api.get("/workflows", params=params)).json()
            seen.extend(w["workflowId"] for w in page["items"])
            if page["nextCursor"] is None:
                break
            params = [*params[:3], ("cursor", page["nextCursor"])]
        everything = (await api.get("/workflows", params={"label": selector})).json()["items"]
        malformed = await api.get("/workflows", params={"label": "no-equals-sign"})
    finally:
        for workflow_id in ids:
            await api.delete(f"/workflows/{workflow_id}")

    assert seen == [ids[0], ids[2]]
    assert [w["workflowId"] for w in everything] == ids[:3]
    assert malformed.status_code == 422
