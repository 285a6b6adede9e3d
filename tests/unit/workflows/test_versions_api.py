"""Versions of a workflow (list, read, diff), ETag and If-Match, and labels with the `?label=` filter."""

from __future__ import annotations

import copy
import random
from datetime import timedelta
from typing import Any

import httpx
import jsonpatch
import pytest
from tests.unit.workflows.conftest import ClientFactory, assert_problem
from tests.unit.workflows.fakes import SEED

from wfa.domain.clock import FakeClock

WF = "/workflows/recurrent-workflow"
METADATA = ("version", "updatedAt", "changedBy")


def _with(**changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(SEED), **changes}


def _definition(version_body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in version_body.items() if key not in METADATA}


async def _created(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> None:
    response = await client.post("/workflows", json=body or SEED)
    assert response.status_code == 201, response.text


# -- versions --------------------------------------------------------------------------------------------------


async def test_a_new_workflow_has_one_version_without_changes(client: httpx.AsyncClient) -> None:
    await _created(client)

    response = await client.get(f"{WF}/versions")

    assert response.status_code == 200
    body = response.json()
    assert body["nextCursor"] is None
    assert [(i["version"], i["changes"], i["changedBy"]) for i in body["items"]] == [(1, [], None)]


async def test_each_update_adds_a_version_naming_what_changed(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await _created(client)
    clock.advance(timedelta(seconds=5))
    await client.put(WF, json=_with(trigger={"type": "periodic", "interval": "5m"}))
    await client.put(WF, json=_with(trigger={"type": "periodic", "interval": "5m"}, description="d"))

    items = (await client.get(f"{WF}/versions")).json()["items"]

    assert [(i["version"], i["changes"]) for i in items] == [
        (3, ["description"]),
        (2, ["trigger.interval"]),
        (1, []),
    ]
    assert items[0]["updatedAt"] > items[2]["updatedAt"]


async def test_versions_are_paged_newest_first(client: httpx.AsyncClient) -> None:
    await _created(client)
    for n in range(4):
        await client.put(WF, json=_with(description=f"d{n}"))
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = (await client.get(f"{WF}/versions", params=params)).json()
        seen.extend(item["version"] for item in page["items"])
        assert all(item["changes"] == ["description"] for item in page["items"] if item["version"] > 1)
        if page["nextCursor"] is None:
            break
        params["cursor"] = page["nextCursor"]
    assert seen == [5, 4, 3, 2, 1]


async def test_changed_by_is_the_api_keys_name(make_client: ClientFactory) -> None:
    async with make_client(api_keys=["alice:k1", "bob:k2"]) as client:
        await client.post("/workflows", json=SEED, headers={"Authorization": "Bearer k1"})
        await client.put(WF, json=_with(description="x"), headers={"Authorization": "Bearer k2"})
        items = (await client.get(f"{WF}/versions", headers={"Authorization": "Bearer k1"})).json()["items"]
        version = (await client.get(f"{WF}/versions/2", headers={"Authorization": "Bearer k1"})).json()
    assert [(i["version"], i["changedBy"]) for i in items] == [(2, "bob"), (1, "alice")]
    assert version["changedBy"] == "bob"


async def test_a_version_is_the_definition_as_it_was(client: httpx.AsyncClient) -> None:
    await _created(client)
    first = (await client.get(WF)).json()
    await client.put(WF, json=_with(name="renamed"))

    response = await client.get(f"{WF}/versions/1")

    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["updatedAt"], body["changedBy"]) == (1, first["updatedAt"], None)
    assert body["name"] is None
    assert body["trigger"] == {
        "type": "periodic",
        "interval": "10s",
        "cron": None,
        "timezone": None,
        "secret": None,
        "pauseAfterFailures": None,
        "catchup": "latest",
        "catchupWindow": "1h",
    }
    assert body["actions"] == first["actions"]


async def test_putting_a_version_back_rolls_the_definition_back(client: httpx.AsyncClient) -> None:
    await _created(client)
    await client.put(WF, json=_with(name="renamed"))
    old = (await client.get(f"{WF}/versions/1")).json()

    response = await client.put(WF, json=old, headers={"If-Match": '"2"'})

    assert response.status_code == 200, response.text
    assert response.json()["name"] is None
    assert response.json()["version"] == 3


async def test_versions_stay_readable_after_delete(client: httpx.AsyncClient) -> None:
    await _created(client)
    await client.put(WF, json=_with(description="x"))
    assert (await client.delete(WF)).status_code == 204

    listed = await client.get(f"{WF}/versions")
    read = await client.get(f"{WF}/versions/2")
    diff = await client.get(f"{WF}/versions/2/diff")

    assert [i["version"] for i in listed.json()["items"]] == [2, 1]
    assert read.json()["description"] == "x"
    assert diff.json()["patch"] == [{"op": "replace", "path": "/description", "value": "x"}]


async def test_a_workflow_created_again_under_a_deleted_id_starts_a_new_history(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await _created(client)
    await client.put(WF, json=_with(description="old"))
    await client.delete(WF)
    clock.advance(timedelta(seconds=1))
    await _created(client)

    items = (await client.get(f"{WF}/versions")).json()["items"]

    assert [i["version"] for i in items] == [1]
    assert (await client.get(f"{WF}/versions/1")).json()["description"] is None


async def test_unknown_workflows_and_versions_are_404(client: httpx.AsyncClient) -> None:
    await _created(client)
    assert_problem(await client.get("/workflows/nope/versions"), 404)
    assert_problem(await client.get("/workflows/nope/versions/1"), 404)
    assert_problem(await client.get(f"{WF}/versions/2"), 404)
    assert_problem(await client.get(f"{WF}/versions/2/diff"), 404)
    assert_problem(await client.get(f"{WF}/versions/1/diff", params={"against": 9}), 404)


@pytest.mark.parametrize(
    ("path", "params", "loc"),
    [
        ("/versions/0", {}, ["path", "version"]),
        ("/versions/x", {}, ["path", "version"]),
        ("/versions/99999999999999999999", {}, ["path", "version"]),
        ("/versions/1/diff", {"against": "0"}, ["query", "against"]),
        ("/versions/1/diff", {"against": "two"}, ["query", "against"]),
        ("/versions", {"limit": "0"}, ["query", "limit"]),
        ("/versions", {"cursor": "garbage"}, ["query", "cursor"]),
    ],
)
async def test_bad_parameters_are_422(
    client: httpx.AsyncClient, path: str, params: dict[str, str], loc: list[Any]
) -> None:
    await _created(client)
    body = assert_problem(await client.get(f"{WF}{path}", params=params), 422)
    assert body["errors"][0]["loc"] == loc


async def test_a_diff_defaults_to_the_version_before(client: httpx.AsyncClient) -> None:
    await _created(client)
    await client.put(WF, json=_with(trigger={"type": "periodic", "interval": "5m"}))

    body = (await client.get(f"{WF}/versions/2/diff")).json()

    assert (body["from"], body["to"]) == (1, 2)
    assert body["patch"] == [{"op": "replace", "path": "/trigger/interval", "value": "5m"}]
    assert "-  interval: 10s\n+  interval: 5m\n" in body["text"]
    assert body["text"].startswith("--- recurrent-workflow@1\n+++ recurrent-workflow@2\n")


async def test_the_first_versions_diff_is_from_nothing(client: httpx.AsyncClient) -> None:
    await _created(client)
    body = (await client.get(f"{WF}/versions/1/diff")).json()
    definition = _definition((await client.get(f"{WF}/versions/1")).json())
    assert body["from"] is None
    assert jsonpatch.apply_patch({}, body["patch"]) == definition


async def test_fifty_updates_diff_exactly_between_any_two_versions(client: httpx.AsyncClient) -> None:
    rng = random.Random(14)
    await _created(client)
    for n in range(2, 52):
        body = _with(
            description=rng.choice([None, f"v{n}"]),
            trigger=rng.choice(
                [{"type": "periodic", "interval": f"{rng.randint(1, 90)}s"}, {"type": "cron", "cron": "*/5 * * * *"}]
            ),
            actions=[
                {"type": "http-request", "url": f"https://example.com/{rng.randint(1, 9)}", "body": {"n": n}}
                if rng.random() < 0.5
                else {"type": "log", "message": f"m{rng.randint(1, 3)}", "level": rng.choice(["info", "error"])}
                for _ in range(rng.randint(1, 4))
            ],
            labels={f"k{rng.randint(1, 5)}": str(rng.randint(1, 3)) for _ in range(rng.randint(0, 3))},
        )
        response = await client.put(WF, json=body, headers={"If-Match": f'"{n - 1}"'})
        assert response.status_code == 200, response.text
    definitions = {n: _definition((await client.get(f"{WF}/versions/{n}")).json()) for n in range(1, 52)}
    for _ in range(60):
        a, b = rng.randint(1, 51), rng.randint(1, 51)
        diff = (await client.get(f"{WF}/versions/{b}/diff", params={"against": a})).json()
        assert (diff["from"], diff["to"]) == (a, b)
        assert jsonpatch.apply_patch(definitions[a], diff["patch"]) == definitions[b]
        assert (diff["text"] == "") == (definitions[a] == definitions[b])


# -- ETag and If-Match ---------------------------------------------------------------------------------------------


async def test_get_sends_the_version_as_etag(client: httpx.AsyncClient) -> None:
    await _created(client)
    await client.put(WF, json=_with(description="x"))
    assert (await client.get(WF)).headers["etag"] == '"2"'


@pytest.mark.parametrize("if_match", ["1", '"1"', 'W/"1"', ' "1" '])
async def test_if_match_takes_the_etag_its_weak_form_or_the_bare_number(
    client: httpx.AsyncClient, if_match: str
) -> None:
    await _created(client)
    response = await client.put(WF, json=_with(description="x"), headers={"If-Match": if_match})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'


async def test_if_match_with_the_etag_of_an_older_version_is_412(client: httpx.AsyncClient) -> None:
    await _created(client)
    etag = (await client.get(WF)).headers["etag"]
    await client.put(WF, json=_with(description="x"))
    assert_problem(await client.put(WF, json=_with(description="y"), headers={"If-Match": etag}), 412)


@pytest.mark.parametrize("if_match", ['W/"x"', 'w/"1"', '"1', "W/1"])
async def test_a_malformed_if_match_is_422(client: httpx.AsyncClient, if_match: str) -> None:
    await _created(client)
    body = assert_problem(await client.put(WF, json=SEED, headers={"If-Match": if_match}), 422)
    assert body["errors"][0]["loc"] == ["header", "If-Match"]


# -- labels ----------------------------------------------------------------------------------------------------------


async def test_labels_are_part_of_the_resource(client: httpx.AsyncClient) -> None:
    response = await client.post("/workflows", json=_with(labels={"app.kubernetes.io/name": "billing"}))
    assert response.json()["labels"] == {"app.kubernetes.io/name": "billing"}
    assert (await client.get(WF)).json()["labels"] == {"app.kubernetes.io/name": "billing"}


async def test_a_bad_label_is_422_at_its_key(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.post("/workflows", json=_with(labels={"Bad Key": "v"})), 422)
    assert body["errors"][0]["loc"][:3] == ["body", "labels", "Bad Key"]
    body = assert_problem(await client.post("/workflows", json=_with(labels={"k": "v" * 256})), 422)
    assert body["errors"][0]["loc"] == ["body", "labels", "k"]


async def test_the_list_filters_on_every_label_given(client: httpx.AsyncClient) -> None:
    for workflow_id, labels in [
        ("a", {"env": "prod", "team": "x"}),
        ("b", {"env": "prod"}),
        ("c", {"env": "dev", "team": "x"}),
        ("d", {}),
    ]:
        await _created(client, _with(workflowId=workflow_id, labels=labels))

    one = await client.get("/workflows", params={"label": "env=prod"})
    both = await client.get("/workflows", params=[("label", "env=prod"), ("label", "team=x")])
    paged = await client.get("/workflows", params={"label": "team=x", "limit": 1})

    assert [w["workflowId"] for w in one.json()["items"]] == ["a", "b"]
    assert [w["workflowId"] for w in both.json()["items"]] == ["a"]
    assert [w["workflowId"] for w in paged.json()["items"]] == ["a"]
    rest = await client.get("/workflows", params={"label": "team=x", "cursor": paged.json()["nextCursor"]})
    assert [w["workflowId"] for w in rest.json()["items"]] == ["c"]


@pytest.mark.parametrize("label", ["env", "=prod", "Env=prod", "env=" + "v" * 256])
async def test_a_malformed_label_filter_is_422(client: httpx.AsyncClient, label: str) -> None:
    body = assert_problem(await client.get("/workflows", params={"label": label}), 422)
    assert body["errors"][0]["loc"] == ["query", "label"]
