"""The API against its own OpenAPI description, fuzzed by schemathesis in-process (ASGI, in-memory repositories).

Whatever a client sends, the answer is never a 5xx, always matches the documented responses (status, media type,
body schema, headers such as Allow), and schema-violating requests are refused. `positive_data_acceptance` is
off: the schema cannot say everything the domain checks (durations of 1s to 365d, a cron expression that parses,
an IANA time zone, a cursor this API handed out), so a schema-valid request may rightly be a 422.

Each run draws a fresh seed and fuzzes for a time budget rather than a number of examples (`WFA_FUZZ_SEED`,
`WFA_FUZZ_SECONDS`, see tests/fuzzing.py) shared by the operations; the stateful sequences draw from the same
seed. The seed is printed at the end of the run; set it to replay a failure.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.schemas import OpenApiSchema
from tests.fuzzing import FUZZ_SEED, UNBOUNDED_EXAMPLES, Budget, budget
from tests.unit.fakes import RecordingPublisher

from wfa.adapters.memory import InMemoryExecutionRepository, InMemoryWorkflowRepository
from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.domain.clock import FakeClock
from wfa.service_layer.triggering import Triggering
from wfa_workflows.api.auth import parse_api_keys
from wfa_workflows.app import ApiDependencies, create_app
from wfa_workflows.use_cases import WorkflowUseCases

API_KEY = "fuzz-key"
STATEFUL_RUNS = 40
STATEFUL_STEPS = 8
SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck), database=None)


def fresh_use_cases() -> WorkflowUseCases:
    return WorkflowUseCases(
        Triggering(
            workflows=InMemoryWorkflowRepository(),
            executions=InMemoryExecutionRepository(),
            publisher=RecordingPublisher(),
            clock=FakeClock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        ),
        InMemoryVersionRepository(),
    )


def fuzzed_app() -> FastAPI:
    # With a key configured, as in production: requests without it must get the documented 401.
    return create_app(ApiDependencies(use_cases=fresh_use_cases(), api_keys=parse_api_keys([f"fuzz:{API_KEY}"])))


def load_schema(*, checks_off: tuple[str, ...] = (), **config: Any) -> OpenApiSchema:
    disabled = ("positive_data_acceptance", *checks_off)
    return schemathesis.openapi.from_asgi(
        "/openapi.json",
        fuzzed_app(),
        config=schemathesis.Config.from_dict(
            {
                "seed": FUZZ_SEED,
                "auth": {"openapi": {"apiKey": {"bearer": API_KEY}}},
                "checks": {name: {"enabled": False} for name in disabled},
                **config,
            }
        ),
    )


schema = load_schema(generation={"max-examples": UNBOUNDED_EXAMPLES})
OPERATION_BUDGETS: dict[str, Budget] = {}


def operation_budget(label: str) -> Budget:
    if label not in OPERATION_BUDGETS:
        operations = sum(1 for _ in schema.get_all_operations())
        OPERATION_BUDGETS[label] = budget(1 / operations)
    return OPERATION_BUDGETS[label]


@schema.parametrize()
@SETTINGS
def test_every_operation_answers_as_documented_and_never_with_a_5xx(case: schemathesis.Case) -> None:
    with operation_budget(case.operation.label).example():
        case.call_and_validate()


# --- stateful: sequences of calls that follow the links between operations ----------------------------------

# use_after_free is off: the contract keeps a deleted workflow's executions readable (200 with its history).
stateful_schema = load_schema(generation={"mode": "positive"}, checks_off=("use_after_free",))


def valid_definitions() -> st.SearchStrategy[dict[str, Any]]:
    """Workflow definitions the API accepts. Random bodies almost never are (a periodic trigger with an interval
    of 1s–365d and no cron, ...), and without created workflows the sequences never get past a 404."""
    triggers = st.one_of(
        st.just({"type": "manual"}),
        st.builds(lambda n, unit: {"type": "periodic", "interval": f"{n}{unit}"}, st.integers(1, 300), st.just("m")),
        st.just({"type": "cron", "cron": "*/5 * * * *", "timezone": "Europe/Paris"}),
    )
    actions = st.one_of(
        st.builds(lambda message: {"type": "log", "message": message}, st.text(min_size=1, max_size=20)),
        st.just(
            {
                "type": "http-request",
                "url": "https://example.com/hook?token={{ secrets.HOOK_TOKEN }}",
                "method": "POST",
                "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
                "body": {"key": "{{secrets.BODY_KEY}}"},
            }
        ),
    )
    return st.fixed_dictionaries(
        {
            "workflowId": st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True),
            "trigger": triggers,
            "actions": st.lists(actions, min_size=1, max_size=3),
        }
    )


@stateful_schema.hook
def before_generate_body(context: schemathesis.HookContext, strategy: st.SearchStrategy[Any]) -> Any:
    operation = context.operation
    if operation is not None and (operation.method.upper(), operation.path) == ("POST", "/workflows"):
        return st.one_of(valid_definitions(), strategy)
    return strategy


class ApiStateMachine(stateful_schema.as_state_machine()):  # type: ignore[misc]
    def setup(self) -> None:
        # Every sequence starts from empty repositories, so that one sequence's workflows do not shape the next.
        stateful_schema.app.state.use_cases = fresh_use_cases()


# Counted, not timed: a state machine cannot end its run from inside (hypothesis then reports the sequences as
# flaky), so this one keeps a fixed number of sequences; they change with the seed all the same.
TestApiStatefully = ApiStateMachine.TestCase
TestApiStatefully.settings = settings(SETTINGS, max_examples=STATEFUL_RUNS, stateful_step_count=STATEFUL_STEPS)


def test_put_documents_the_resource_as_a_body_it_takes() -> None:
    # Found by the stateful fuzzing (WFA_FUZZ_SEED=3327019582): a GET body sent back to PUT, which the contract says
    # is accepted, was documented as invalid.
    body = fuzzed_app().openapi()["paths"]["/workflows/{workflow_id}"]["put"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]

    assert schema["anyOf"] == [
        {"$ref": "#/components/schemas/WorkflowDefinition"},
        {"$ref": "#/components/schemas/Workflow"},
        {"$ref": "#/components/schemas/VersionResource"},
    ]
