"""The OpenAPI document is one a client can be generated from: valid OpenAPI 3.1, an explicit camelCase operationId
on every operation, one schema per model, a description on every field, the problem answers and the headers
every client must handle (Location, ETag, Retry-After) documented."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate
from tests.unit.workflows.test_openapi_fuzzing import fuzzed_app

OPERATION_ID = re.compile(r"^[a-z][A-Za-z]+$")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return fuzzed_app().openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, operation


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_operation_has_an_explicit_camel_case_operation_id(document: dict[str, Any]) -> None:
    ids = {f"{method} {path}": operation.get("operationId", "") for method, path, operation in operations(document)}

    assert {where: id_ for where, id_ in ids.items() if not OPERATION_ID.match(id_)} == {}
    assert len(set(ids.values())) == len(ids)
    assert ids["POST /workflows"] == "createWorkflow"
    assert ids["POST /workflows/{workflow_id}/trigger"] == "triggerWorkflow"


def test_one_schema_per_model(document: dict[str, Any]) -> None:
    names = document["components"]["schemas"]

    assert [name for name in names if name.endswith(("-Input", "-Output"))] == []


def test_every_field_of_every_schema_is_described(document: dict[str, Any]) -> None:
    undescribed = [
        f"{name}.{field}"
        for name, schema in document["components"]["schemas"].items()
        for field, spec in (schema.get("properties") or {}).items()
        if not spec.get("description")
    ]

    assert undescribed == []


def test_every_operation_documents_the_answers_any_request_may_get(document: dict[str, Any]) -> None:
    missing = {
        f"{method} {path}": sorted({"401", "403", "413", "415", "422", "503"} - set(operation["responses"]))
        for method, path, operation in operations(document)
        if not path.startswith("/hooks/")  # webhooks sign instead of authenticating
    }

    assert {where: statuses for where, statuses in missing.items() if statuses} == {}


def test_the_headers_clients_rely_on_are_documented(document: dict[str, Any]) -> None:
    paths = document["paths"]

    assert "Location" in paths["/workflows"]["post"]["responses"]["201"]["headers"]
    assert "Location" in paths["/workflows/{workflow_id}/trigger"]["post"]["responses"]["202"]["headers"]
    assert "Location" in paths["/executions/{execution_id}/retry"]["post"]["responses"]["202"]["headers"]
    assert "Retry-After" in paths["/workflows"]["post"]["responses"]["503"]["headers"]


def test_write_operations_show_a_request_example(document: dict[str, Any]) -> None:
    create = document["paths"]["/workflows"]["post"]["requestBody"]["content"]["application/json"]

    assert create.get("examples") or create.get("example")
