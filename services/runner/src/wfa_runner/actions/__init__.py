"""The action types a workflow can run, each behind the ActionRunner protocol."""

from wfa_runner.actions.base import ActionFailedWithOutput, ActionRunner, ActionSpec, Output, output_of
from wfa_runner.actions.http import HttpRequestRunner, http_client, retry_after_seconds
from wfa_runner.actions.log import LogActionRunner

__all__ = [
    "ActionFailedWithOutput",
    "ActionRunner",
    "ActionSpec",
    "HttpRequestRunner",
    "LogActionRunner",
    "Output",
    "http_client",
    "output_of",
    "retry_after_seconds",
]
