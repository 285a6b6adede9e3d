"""What can go wrong, as types: each carries the lines a user reads and the exit code (docs/cli.md, "Exit codes")."""

from __future__ import annotations

from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CliError(Exception):
    """A failure reported as one line on stderr (plus detail lines for validation errors), never a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []

    def as_json(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "details": self.details}}


class UsageError(CliError):
    exit_code = EXIT_USAGE


class Unreachable(CliError):
    """No answer from the server: refused, timed out, or the connection was lost."""


class ApiError(CliError):
    """The server answered 4xx/5xx; `problem` is its RFC 9457 body (or what could be read of it)."""

    def __init__(self, status: int, message: str, *, problem: dict[str, Any], details: list[str] | None = None) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.problem = problem

    def as_json(self) -> dict[str, Any]:
        return {
            "error": {"message": self.message, "details": self.details, "status": self.status, "problem": self.problem}
        }


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Invalid(ApiError):
    pass
