"""The workflows API over HTTP, as the CLI needs it: one method per endpoint, answers as JSON documents, and every
failure turned into an error type of wfa_cli.errors (a lost connection included), so that no command sees httpx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from wfa_cli.errors import ApiError, Conflict, Invalid, NotFound, Unauthorized, Unreachable

PAGE_LIMIT = 500  # the API's maximum page size: fewest round trips when listing everything


def _segment(value: str) -> str:
    return quote(value, safe="")


class WorkflowsApi:
    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    # workflows

    def get_workflow(self, workflow_id: str) -> tuple[dict[str, Any], str | None]:
        """The resource and its ETag (the version as If-Match takes it; null before the server sends ETags)."""
        response = self._request("GET", f"/workflows/{_segment(workflow_id)}")
        return response.json(), response.headers.get("etag")

    def find_workflow(self, workflow_id: str) -> tuple[dict[str, Any], str | None] | None:
        try:
            return self.get_workflow(workflow_id)
        except NotFound:
            return None

    def list_workflows(self, labels: list[str] | None = None) -> Iterator[dict[str, Any]]:
        params: list[tuple[str, str]] = [("label", label) for label in labels or []]
        yield from self._pages("/workflows", params)

    def create_workflow(self, definition: dict[str, Any]) -> dict[str, Any]:
        return dict(self._request("POST", "/workflows", json=definition).json())

    def replace_workflow(self, definition: dict[str, Any], *, if_match: str) -> dict[str, Any]:
        path = f"/workflows/{_segment(definition['workflowId'])}"
        return dict(self._request("PUT", path, json=definition, headers={"If-Match": if_match}).json())

    def delete_workflow(self, workflow_id: str) -> None:
        self._request("DELETE", f"/workflows/{_segment(workflow_id)}")

    def pause_workflow(self, workflow_id: str) -> dict[str, Any]:
        return dict(self._request("POST", f"/workflows/{_segment(workflow_id)}/pause").json())

    def resume_workflow(self, workflow_id: str) -> dict[str, Any]:
        return dict(self._request("POST", f"/workflows/{_segment(workflow_id)}/resume").json())

    def list_versions(self, workflow_id: str) -> Iterator[dict[str, Any]]:
        yield from self._pages(f"/workflows/{_segment(workflow_id)}/versions", [])

    # executions

    def trigger(self, workflow_id: str, *, input: dict[str, Any] | None, idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        body = {"input": input} if input is not None else None
        path = f"/workflows/{_segment(workflow_id)}/trigger"
        return dict(self._request("POST", path, json=body, headers=headers).json())

    def list_executions(self, *, workflow_id: str | None, status: str | None, limit: int) -> list[dict[str, Any]]:
        params: list[tuple[str, str]] = [("limit", str(min(limit, PAGE_LIMIT)))]
        if status:
            params.append(("status", status))
        # Without a workflow: GET /executions, across workflows (contract v2, "Executions across workflows").
        path = f"/workflows/{_segment(workflow_id)}/executions" if workflow_id else "/executions"
        items: list[dict[str, Any]] = []
        for item in self._pages(path, params):
            items.append(item)
            if len(items) >= limit:
                break
        return items

    def get_execution(self, execution_id: str) -> dict[str, Any]:
        return dict(self._request("GET", f"/executions/{_segment(execution_id)}").json())

    def cancel_execution(self, execution_id: str) -> dict[str, Any]:
        return dict(self._request("POST", f"/executions/{_segment(execution_id)}/cancel").json())

    def retry_execution(self, execution_id: str, *, idempotency_key: str | None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return dict(self._request("POST", f"/executions/{_segment(execution_id)}/retry", headers=headers).json())

    # plumbing

    def _pages(self, path: str, params: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        if not any(name == "limit" for name, _ in params):
            params = [*params, ("limit", str(PAGE_LIMIT))]
        cursor: str | None = None
        while True:
            page = self._request("GET", path, params=[*params, *([("cursor", cursor)] if cursor else [])]).json()
            yield from page.get("items", [])
            cursor = page.get("nextCursor")
            if not cursor:
                return

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: list[tuple[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            query = httpx.QueryParams([(name, value) for name, value in params]) if params else None
            response = self._http.request(method, path, json=json, params=query, headers=headers)
        except httpx.TimeoutException as exc:
            raise Unreachable(f"no answer from {self._http.base_url} in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise Unreachable(f"cannot reach the server at {self._http.base_url}: {reason}") from None
        if response.is_success:
            try:
                if response.status_code != 204:
                    response.json()
            except ValueError:
                raise ApiError(
                    response.status_code,
                    f"{method} {path}: the server's answer is not JSON (is {self._http.base_url} the workflows API?)",
                    problem={},
                ) from None
            return response
        raise problem_error(method, path, response)


def problem_error(method: str, path: str, response: httpx.Response) -> ApiError:
    """An error type per status, with the problem's title and detail on one line and each `errors[]` as `loc: msg`."""
    status = response.status_code
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        text = " ".join(response.text.split())[:200]
        problem = {"status": status, "title": response.reason_phrase, "detail": text}
    title = str(problem.get("title") or response.reason_phrase or "error")
    detail = str(problem.get("detail") or "")
    summary = f"{title}: {detail}" if detail and detail != title else title
    message = f"{method} {path} → {status} {summary}"
    details = [
        f"{'.'.join(str(part) for part in error.get('loc') or []) or '(request)'}: {error.get('msg', '')}"
        for error in problem.get("errors") or []
        if isinstance(error, dict)
    ]
    kind: type[ApiError] = ApiError
    if status in (401, 403):
        kind = Unauthorized
        message += " (set the key with --api-key or WFA_API_KEY)" if status == 401 else ""
    elif status == 404:
        kind = NotFound
    elif status in (409, 412):
        kind = Conflict
    elif status == 422:
        kind = Invalid
    return kind(status, message, problem=problem, details=details)
