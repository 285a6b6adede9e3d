"""Recording versions survives a crash at any point of a PUT, a retried PUT and a lost race: no version is lost,
none is recorded twice, and none is recorded that never was."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wfa.adapters.memory_versions import InMemoryVersionRepository
from wfa.domain.errors import VersionMismatch
from wfa.domain.versions import WorkflowVersion
from wfa.domain.workflow import WorkflowDefinition
from wfa.service_layer.triggering import Triggering
from wfa_workflows.use_cases import WorkflowUseCases


class Crash(Exception):
    """The process dies here."""


class CrashingVersions(InMemoryVersionRepository):
    """Dies at the `crash_at`-th record (1-based); records normally otherwise."""

    def __init__(self) -> None:
        super().__init__()
        self.records = 0
        self.crash_at: int | None = None

    async def record(self, version: WorkflowVersion) -> None:
        self.records += 1
        if self.records == self.crash_at:
            raise Crash
        await super().record(version)


def _definition(description: str | None = None) -> WorkflowDefinition:
    return WorkflowDefinition.model_validate(
        {
            "workflowId": "w",
            "description": description,
            "trigger": {"type": "manual"},
            "actions": [{"type": "log", "message": "hi"}],
        }
    )


@pytest.fixture
def versions() -> CrashingVersions:
    return CrashingVersions()


@pytest.fixture
def use_cases(deps: Triggering, versions: CrashingVersions) -> WorkflowUseCases:
    return WorkflowUseCases(deps, versions)


async def _history(use_cases: WorkflowUseCases) -> list[tuple[int, str | None]]:
    listing = await use_cases.list_versions("w", limit=50, cursor=None)
    return [(entry.version.version, entry.version.definition.description) for entry in listing.items]


async def test_a_crash_after_the_update_is_repaired_when_the_versions_are_read(
    use_cases: WorkflowUseCases, versions: CrashingVersions
) -> None:
    await use_cases.create_workflow(_definition())  # record 1
    versions.crash_at = 3  # 2: version 1 before the update; 3: version 2 after it
    with pytest.raises(Crash):
        await use_cases.update_workflow("w", _definition("two"), if_match=1)

    assert await _history(use_cases) == [(2, "two"), (1, None)]


async def test_a_crash_after_the_update_is_repaired_by_the_next_update_and_by_delete(
    use_cases: WorkflowUseCases, versions: CrashingVersions
) -> None:
    await use_cases.create_workflow(_definition())
    versions.crash_at = 3
    with pytest.raises(Crash):
        await use_cases.update_workflow("w", _definition("two"), if_match=1)
    versions.crash_at = 5  # 4: version 2, before the next update (the repair); 5: version 3 after it
    with pytest.raises(Crash):
        await use_cases.update_workflow("w", _definition("three"), if_match=2)
    await use_cases.delete_workflow("w")  # 6: version 3, before the delete

    assert await _history(use_cases) == [(3, "three"), (2, "two"), (1, None)]


async def test_a_crash_before_the_update_changes_nothing_and_the_retry_records_each_version_once(
    use_cases: WorkflowUseCases, versions: CrashingVersions
) -> None:
    await use_cases.create_workflow(_definition())
    versions.crash_at = 2  # version 1, before the update
    with pytest.raises(Crash):
        await use_cases.update_workflow("w", _definition("two"), if_match=1)
    assert (await use_cases.get_workflow("w")).version == 1

    await use_cases.update_workflow("w", _definition("two"), if_match=1)
    assert await _history(use_cases) == [(2, "two"), (1, None)]


async def test_a_put_that_loses_its_race_records_no_version_of_its_own(
    use_cases: WorkflowUseCases, deps: Triggering
) -> None:
    await use_cases.create_workflow(_definition())
    workflows: Any = deps.workflows
    original = workflows.replace_definition

    async def slow_replace(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.01)  # both have read version 1 and recorded it before either replaces it
        return await original(*args, **kwargs)

    workflows.replace_definition = slow_replace
    results = await asyncio.gather(
        use_cases.update_workflow("w", _definition("a"), if_match=1),
        use_cases.update_workflow("w", _definition("b"), if_match=1),
        return_exceptions=True,
    )

    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1 and sum(isinstance(r, VersionMismatch) for r in results) == 1
    assert await _history(use_cases) == [(2, winners[0].description), (1, None)]
