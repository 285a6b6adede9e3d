"""Templates in a run: an action reads the trigger's input and what earlier actions returned, a `when` skips, and a
template that fails fails its action before anything is sent."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from tests.unit.runner.conftest import Harness
from tests.unit.runner.fakes import START, ByType, workflow

from wfa.domain.execution import ActionStatus, ExecutionStatus
from wfa.domain.workflow import Workflow, WorkflowDefinition
from wfa_runner.actions import HttpRequestRunner
from wfa_runner.execution_runner import RunOutcome


class Target:
    """An HTTP target answering 200 to everything, keeping the requests it got."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json={"ok": True})


class Secrets:
    def get(self, name: str) -> str | None:
        return {"DB_PASSWORD": "hunter2"}.get(name)


@pytest.fixture
def target() -> Target:
    return Target()


@pytest.fixture
async def actions(harness: Harness, target: Target) -> AsyncIterator[ByType]:
    client = httpx.AsyncClient(transport=httpx.MockTransport(target.handle))
    try:
        yield ByType(
            HttpRequestRunner(
                client, clock=harness.clock, output_max_bytes=1000, max_response_bytes=10_000, secrets=Secrets()
            )
        )
    finally:
        await client.aclose()


def release_workflow(body: object, *, when: str | None = None) -> Workflow:
    return workflow(
        [
            {"type": "log", "name": "announce", "message": "release {{ input.release }} by {{ input.who }}"},
            {
                "type": "http-request",
                "name": "post-summary",
                "method": "POST",
                "url": "https://api.example.com/releases/{{ input.release }}",
                "body": body,
                **({"when": when} if when is not None else {}),
            },
        ]
    )


async def test_an_action_sends_the_input_and_an_earlier_output_in_its_body(
    harness: Harness, actions: ByType, target: Target
) -> None:
    body = {
        "summary": "{{ actions.announce.output.message }}",
        "count": "{{ input.count }}",
        "tags": "{{ input.tags }}",
    }
    request = await harness.trigger(
        release_workflow(body), input={"release": "42", "who": "ann", "count": 3, "tags": ["a"]}
    )

    outcome = await harness.runner(actions).run(request)  # type: ignore[arg-type]

    assert outcome is RunOutcome.SUCCEEDED
    (sent,) = target.requests
    assert str(sent.url) == "https://api.example.com/releases/42"
    assert json.loads(sent.content) == {"summary": "release 42 by ann", "count": 3, "tags": ["a"]}
    execution = await harness.execution(request.execution_id)
    assert execution.actions[0].output == {"message": "release 42 by ann"}


async def test_an_input_naming_a_secret_is_sent_as_text(harness: Harness, actions: ByType, target: Target) -> None:
    request = await harness.trigger(
        release_workflow({"note": "{{ input.who }}"}), input={"release": "1", "who": "{{ secrets.DB_PASSWORD }}"}
    )

    await harness.runner(actions).run(request)  # type: ignore[arg-type]

    (sent,) = target.requests
    assert json.loads(sent.content) == {"note": "{{ secrets.DB_PASSWORD }}"}
    assert b"hunter2" not in sent.content


async def test_a_falsy_when_skips_the_action_and_the_execution_goes_on(
    harness: Harness, actions: ByType, target: Target
) -> None:
    request = await harness.trigger(
        release_workflow({}, when="input.publish"), input={"release": "1", "publish": False}
    )

    outcome = await harness.runner(actions).run(request)  # type: ignore[arg-type]

    assert outcome is RunOutcome.SUCCEEDED
    execution = await harness.execution(request.execution_id)
    assert [run.status for run in execution.actions] == [ActionStatus.SUCCEEDED, ActionStatus.SKIPPED]
    assert target.requests == []


async def test_a_failing_template_fails_the_action_for_good_before_sending(
    harness: Harness, actions: ByType, target: Target
) -> None:
    request = await harness.trigger(release_workflow({"n": "{{ length(input.count) }}"}), input={"count": 3})

    outcome = await harness.runner(actions).run(request)  # type: ignore[arg-type]

    assert outcome is RunOutcome.FAILED
    execution = await harness.execution(request.execution_id)
    assert execution.status is ExecutionStatus.FAILED
    failed = execution.actions[1]
    assert failed.status is ActionStatus.FAILED and failed.attempts == 1
    assert failed.error is not None and failed.error.type == "template_error"
    assert "length(input.count)" in failed.error.message
    assert target.requests == []


async def test_failure_handlers_render_the_error_and_earlier_outputs(harness: Harness, actions: ByType) -> None:
    definition = {
        "workflowId": "w",
        "trigger": {"type": "manual"},
        "retry": {"maxAttempts": 1},
        "actions": [
            {
                "type": "log",
                "name": "announce",
                "message": "release {{ input.release }}",
                "compensate": {"type": "log", "message": "undo {{ actions.announce.output.message }}"},
            },
            {"type": "log", "name": "broken", "message": "{{ length(input.release) > `0` && abs(input.release) }}"},
        ],
        "onFailure": [{"type": "log", "message": "{{ error.action }} failed ({{ error.type }})"}],
    }
    flow = Workflow.create(WorkflowDefinition.model_validate(definition), now=START, next_run_at=None)
    request = await harness.trigger(flow, input={"release": "42"})

    outcome = await harness.runner(actions).run(request)  # type: ignore[arg-type]

    assert outcome is RunOutcome.FAILED
    execution = await harness.execution(request.execution_id)
    assert [run.output for run in execution.compensations or []] == [{"message": "undo release 42"}]
    assert [run.output for run in execution.on_failure or []] == [{"message": "broken failed (template_error)"}]
