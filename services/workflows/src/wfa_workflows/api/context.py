"""How a route reaches the objects built by the composition root: through `app.state`, set by `create_app`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from wfa_workflows.use_cases import WorkflowUseCases


def _use_cases(request: Request) -> WorkflowUseCases:
    use_cases = request.app.state.use_cases
    assert isinstance(use_cases, WorkflowUseCases)
    return use_cases


UseCases = Annotated[WorkflowUseCases, Depends(_use_cases)]
