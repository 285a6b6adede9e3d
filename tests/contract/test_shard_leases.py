"""The scheduler's shard leases, on both adapters: a lease is taken by one process at a time, renewed by its
holder, taken over only once expired, and handed back at once by a release or a departure."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from tests.contract.builders import T0, seconds

from wfa.adapters.memory import InMemoryShardLeases
from wfa.adapters.mongo import MongoStore
from wfa.ports.repositories import ShardLeaseRepository

LEASE = seconds(6)


@pytest.fixture(params=["memory", pytest.param("mongodb", marks=pytest.mark.integration)])
async def leases(request: pytest.FixtureRequest) -> AsyncIterator[ShardLeaseRepository]:
    if request.param == "memory":
        yield InMemoryShardLeases()
        return
    store = MongoStore.from_url(request.getfixturevalue("fresh_mongo_url"), timeout_ms=10_000)
    await store.ensure_indexes()
    try:
        yield store.shard_leases
    finally:
        await store.close()


async def test_nothing_is_leased_at_first(leases: ShardLeaseRepository) -> None:
    view = await leases.read()

    assert (dict(view.leases), dict(view.members)) == ({}, {})


async def test_a_free_shard_goes_to_the_first_taker_only(leases: ShardLeaseRepository) -> None:
    assert await leases.try_take(3, owner="a", until=T0 + LEASE, now=T0)
    assert not await leases.try_take(3, owner="b", until=T0 + LEASE, now=T0 + seconds(1))

    lease = (await leases.read()).leases[3]
    assert (lease.owner, lease.lease_until) == ("a", T0 + LEASE)


async def test_an_expired_lease_is_taken_over(leases: ShardLeaseRepository) -> None:
    await leases.try_take(3, owner="a", until=T0 + LEASE, now=T0)

    assert await leases.try_take(3, owner="b", until=T0 + LEASE * 2, now=T0 + LEASE)

    assert (await leases.read()).leases[3].owner == "b"


async def test_a_heartbeat_announces_the_process_and_renews_only_its_own_leases(
    leases: ShardLeaseRepository,
) -> None:
    await leases.try_take(1, owner="a", until=T0 + LEASE, now=T0)
    await leases.try_take(2, owner="b", until=T0 + LEASE, now=T0)

    await leases.heartbeat("a", until=T0 + seconds(10))
    await leases.heartbeat("a", until=T0 + seconds(12))

    view = await leases.read()
    assert view.members == {"a": T0 + seconds(12)}
    assert (view.leases[1].lease_until, view.leases[2].lease_until) == (T0 + seconds(12), T0 + LEASE)


async def test_a_lease_taken_over_is_not_renewed_by_its_former_holder(leases: ShardLeaseRepository) -> None:
    await leases.try_take(1, owner="a", until=T0 + LEASE, now=T0)
    await leases.try_take(1, owner="b", until=T0 + LEASE * 2, now=T0 + LEASE)

    await leases.heartbeat("a", until=T0 + LEASE * 3)

    lease = (await leases.read()).leases[1]
    assert (lease.owner, lease.lease_until) == ("b", T0 + LEASE * 2)


async def test_a_released_shard_is_free_at_once(leases: ShardLeaseRepository) -> None:
    await leases.try_take(5, owner="a", until=T0 + LEASE, now=T0)
    await leases.release(5, owner="b")  # not b's to release
    assert not await leases.try_take(5, owner="b", until=T0 + LEASE, now=T0)

    await leases.release(5, owner="a")

    assert (await leases.read()).leases[5].owner is None
    assert await leases.try_take(5, owner="b", until=T0 + LEASE, now=T0)


async def test_leaving_frees_every_shard_and_the_process_is_no_longer_alive(leases: ShardLeaseRepository) -> None:
    for shard in (1, 2):
        await leases.try_take(shard, owner="a", until=T0 + LEASE, now=T0)
    await leases.heartbeat("a", until=T0 + LEASE)

    await leases.leave("a")

    view = await leases.read()
    assert [view.leases[shard].owner for shard in (1, 2)] == [None, None]
    assert view.members.get("a", T0) <= T0
    assert await leases.try_take(1, owner="b", until=T0 + LEASE, now=T0)


async def test_forgotten_processes_are_gone_from_the_members(leases: ShardLeaseRepository) -> None:
    await leases.heartbeat("a", until=T0)
    await leases.heartbeat("b", until=T0)

    await leases.forget(["a"])

    assert set((await leases.read()).members) == {"b"}
