"""Arbitrary bytes on the requests topic: the parser answers a request or a refusal, never anything else, and the
worker dead-letters what it cannot parse, runs the rest, commits past all of it, and keeps going."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from tests.fuzzing import UNBOUNDED_EXAMPLES, budget
from tests.unit.runner.fakes import eventually
from tests.unit.runner.test_worker import P0, TOPIC, FakeRecord, make, request_bytes

from wfa.events import ExecutionRequest
from wfa_runner.worker import InvalidRecord, parse_request

VALID = json.loads(request_bytes("e-valid"))
# Seeded and timed by tests/fuzzing.py (WFA_FUZZ_SEED, WFA_FUZZ_SECONDS): a fresh seed each run.
SETTINGS = settings(max_examples=UNBOUNDED_EXAMPLES, deadline=None, database=None)
FROM_JSON_BUDGET = budget(0.05)
PARSE_BUDGET = budget(0.05)
WORKER_BUDGET = budget(0.15)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
# A valid request with some fields replaced, dropped or added: closer to what a buggy producer sends.
mutated_requests = st.builds(
    lambda replaced, dropped, added: {
        **{key: value for key, value in VALID.items() if key not in dropped},
        **replaced,
        **added,
    },
    st.dictionaries(st.sampled_from(sorted(VALID)), json_values, max_size=3),
    st.sets(st.sampled_from(sorted(VALID)), max_size=2),
    st.dictionaries(st.text(max_size=10), json_values, max_size=2),
)
payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda value: json.dumps(value).encode()),
    mutated_requests.map(lambda value: json.dumps(value).encode()),
    mutated_requests.map(lambda value: json.dumps(value).encode("utf-16")),
)
headers = st.lists(
    st.tuples(st.sampled_from(["traceparent", "tracestate", "baggage"]) | st.text(max_size=12), st.binary(max_size=80)),
    max_size=3,
)


@SETTINGS
@given(payloads)
def test_from_json_returns_a_request_or_raises_a_validation_error(raw: bytes) -> None:
    with FROM_JSON_BUDGET.example():
        try:
            request = ExecutionRequest.from_json(raw)
        except ValidationError:
            return
        assert request.schema_version == 1
        assert ExecutionRequest.from_json(request.to_json()) == request


@SETTINGS
@given(st.none() | payloads, headers)
def test_parse_request_returns_a_request_or_raises_invalid_record(raw: bytes | None, extra: Any) -> None:
    with PARSE_BUDGET.example():
        record = FakeRecord(TOPIC, 0, 0, b"w", raw, extra)
        try:
            parse_request(record)
        except InvalidRecord as refused:
            assert str(refused)


def _parses(raw: bytes | None) -> bool:
    try:
        parse_request(FakeRecord(TOPIC, 0, 0, None, raw))
    except InvalidRecord:
        return False
    return True


@settings(SETTINGS, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.none() | payloads, headers), min_size=1, max_size=6))
async def test_the_worker_dead_letters_garbage_runs_the_rest_and_commits_past_all(
    records: list[tuple[bytes | None, Any]],
) -> None:
    with WORKER_BUDGET.example():
        running = make()
        for raw, extra in records:
            running.consumer.add(raw, headers=extra)
        running.consumer.add(request_bytes("e-after"))  # and a good request after them still runs
        running.start()
        try:
            await eventually(lambda: running.consumer.committed.get(P0) == len(records) + 1, "everything committed")
        finally:
            await running.stop()

        garbage = [raw for raw, _ in records if not _parses(raw)]
        assert [sent["value"] for sent in running.dead_letters.sent] == garbage
        assert all(sent["reason"] for sent in running.dead_letters.sent)
        assert running.handler.attempts[-1] == "e-after"
        assert len(running.handler.attempts) == len(records) - len(garbage) + 1
