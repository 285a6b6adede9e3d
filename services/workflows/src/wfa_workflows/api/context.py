"""How a route reaches the objects built by the composition root: through `app.state`, set by `create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from wfa_workflows.api.auth import ApiKey
from wfa_workflows.use_cases import WorkflowUseCases


def _use_cases(request: Request) -> WorkflowUseCases:
    use_cases = request.app.state.use_cases
    assert isinstance(use_cases, WorkflowUseCases)
    return use_cases


UseCases = Annotated[WorkflowUseCases, Depends(_use_cases)]


def _caller(request: Request) -> str | None:
    # Set by the ApiKeyAuth guard, which every API router depends on and FastAPI solves before a route's own
    # parameters; absent when the API is open.
    key = getattr(request.state, "api_key", None)
    return key.name if isinstance(key, ApiKey) else None


Caller = Annotated[str | None, Depends(_caller)]
"""The name of the API key the request came with; None when the API is open."""
