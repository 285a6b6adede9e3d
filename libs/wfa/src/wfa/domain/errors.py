"""The error hierarchy of the domain. Entry points map these to HTTP problems or retry decisions in one place each."""

from __future__ import annotations


class WfaError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFound(WfaError):
    pass


class WorkflowNotFound(NotFound):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} does not exist")
        self.workflow_id = workflow_id


class ExecutionNotFound(NotFound):
    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} does not exist")
        self.execution_id = execution_id


class VersionNotFound(NotFound):
    def __init__(self, workflow_id: str, version: int) -> None:
        super().__init__(f"workflow {workflow_id!r} has no version {version}")
        self.workflow_id = workflow_id
        self.version = version


class Conflict(WfaError):
    pass


class WorkflowAlreadyExists(Conflict):
    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"workflow {workflow_id!r} already exists")
        self.workflow_id = workflow_id


class TriggerLocked(Conflict):
    """The workflow cannot start an execution now: it is busy, pending a retry, or paused."""

    def __init__(self, workflow_id: str, *, reason: str, trigger_status: str, execution_id: str | None) -> None:
        super().__init__(
            f"workflow {workflow_id!r} cannot be triggered: {reason}"
            + (f" (execution {execution_id})" if execution_id else "")
        )
        self.workflow_id = workflow_id
        self.reason = reason
        self.trigger_status = trigger_status
        self.execution_id = execution_id


class QueueFull(TriggerLocked):
    """Every slot is taken and `queueMax` executions already wait (`whenBusy: queue`): 409 `queue_full`."""

    def __init__(self, workflow_id: str, *, queue_max: int, trigger_status: str, execution_id: str | None) -> None:
        super().__init__(workflow_id, reason="queue_full", trigger_status=trigger_status, execution_id=execution_id)
        self.args = (f"workflow {workflow_id!r} cannot be triggered: {queue_max} executions already wait",)
        self.queue_max = queue_max


class LockHeldByLiveExecution(Conflict):
    """An unlock without `force` of a lock whose holder is still queued, running or pending."""

    def __init__(self, workflow_id: str, *, execution_id: str, execution_status: str) -> None:
        super().__init__(
            f"workflow {workflow_id!r} is locked by execution {execution_id!r}, which is {execution_status}: "
            "cancel it, or unlock with force=true"
        )
        self.workflow_id = workflow_id
        self.execution_id = execution_id
        self.execution_status = execution_status


class ExecutionAlreadyFinished(Conflict):
    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(f"execution {execution_id!r} already finished with status {status!r}")
        self.execution_id = execution_id
        self.status = status


class ExecutionNotRetryable(Conflict):
    """Only a failed or cancelled execution may be retried."""

    def __init__(self, execution_id: str, status: str) -> None:
        super().__init__(f"execution {execution_id!r} is {status}: only a failed or cancelled execution can be retried")
        self.execution_id = execution_id
        self.status = status


class WorkflowDeleted(Conflict):
    """The workflow of an execution was deleted (or deleted and created anew under its id): none of its old
    executions may start another."""

    def __init__(self, workflow_id: str, execution_id: str) -> None:
        super().__init__(
            f"workflow {workflow_id!r} of execution {execution_id!r} was deleted; create it and trigger it anew"
        )
        self.workflow_id = workflow_id
        self.execution_id = execution_id


class WebhookNotFound(NotFound):
    """No workflow with this id takes webhooks: it does not exist, or it has no webhook. One error for both, so that
    the unauthenticated webhook endpoint does not tell which workflows exist."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"no webhook for workflow {workflow_id!r}")
        self.workflow_id = workflow_id


class InvalidSignature(WfaError):
    """A webhook request whose signature is missing, wrong or outside the time window: nothing is started."""


class VersionMismatch(WfaError):
    """An update named a version (If-Match) that is not the stored one."""

    def __init__(self, workflow_id: str, expected: int, actual: int) -> None:
        super().__init__(f"workflow {workflow_id!r} is at version {actual}, not {expected}")
        self.workflow_id = workflow_id
        self.expected = expected
        self.actual = actual


class ValidationFailed(WfaError):
    """Input that parsed but breaks a rule the schema cannot express."""

    def __init__(self, message: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.loc = loc


class ActionFailed(WfaError):
    """An action's attempt failed. `retryable` says whether another attempt may succeed."""

    def __init__(self, message: str, *, kind: str, retryable: bool, retry_after_seconds: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds


class UnreadableSecret(ActionFailed):
    """A secret's file exists but cannot be read. Retryable for an action: a file being rotated may be readable
    again soon."""

    def __init__(self, name: str, cause: str) -> None:
        super().__init__(
            f"secret {name!r}: its file in WFA_SECRETS_DIR cannot be read ({cause})",
            kind="unreadable_secret",
            retryable=True,
        )
        self.name = name


class DependencyUnavailable(WfaError):
    """MongoDB or Kafka cannot be reached; the caller may try again later."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} is unavailable: {detail}")
        self.dependency = dependency
        self.detail = detail


class MessageRejected(WfaError):
    """The message broker refuses this message for good (too large, say): sending the same bytes again fails the
    same way, unlike DependencyUnavailable."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency} rejected the message: {detail}")
        self.dependency = dependency
        self.detail = detail
