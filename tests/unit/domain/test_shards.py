from datetime import UTC, datetime, timedelta

from wfa.domain.shards import SHARDS, ShardLease, ShardView, firing_shards, plan_shards, shard_of

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=5)
EARLIER = NOW - timedelta(seconds=5)


def _view(holders: dict[int, tuple[str | None, datetime]], members: dict[str, datetime] | None = None) -> ShardView:
    return ShardView(
        leases={shard: ShardLease(shard, owner, until) for shard, (owner, until) in holders.items()},
        members=members or {},
    )


def test_a_workflow_belongs_to_the_same_shard_in_every_process() -> None:
    # crc32, not Python's hash(): the value must not depend on PYTHONHASHSEED.
    assert shard_of("recurrent-workflow") == 3871328574 % SHARDS
    assert {shard_of(f"w{n}") for n in range(2000)} == set(range(SHARDS))


def test_a_lone_scheduler_takes_every_shard() -> None:
    plan = plan_shards(_view({}), me="a", now=NOW)

    assert (plan.share, plan.take, plan.release) == (SHARDS, tuple(range(SHARDS)), ())


def test_a_scheduler_that_joins_is_counted_and_the_holder_releases_the_excess() -> None:
    view = _view({s: ("a", LATER) for s in range(SHARDS)}, {"a": LATER, "b": LATER})

    holder = plan_shards(view, me="a", now=NOW)
    newcomer = plan_shards(view, me="b", now=NOW)

    assert (holder.share, holder.take, holder.release) == (32, (), tuple(range(32, SHARDS)))
    assert (newcomer.take, newcomer.release) == ((), ())


def test_shards_of_an_expired_holder_are_taken_up_to_the_fair_share() -> None:
    view = _view(
        {s: ("a", LATER) if s < 21 else ("c", EARLIER) for s in range(SHARDS)},
        {"a": LATER, "b": LATER, "c": EARLIER},
    )

    plan = plan_shards(view, me="b", now=NOW)

    assert plan.share == 32  # c is dead: a and b share
    assert plan.take == tuple(range(21, 53))


def test_shards_without_a_live_holder_are_fired_by_everyone_until_taken() -> None:
    view = _view({0: ("a", LATER), 1: ("b", LATER), 2: ("c", EARLIER), 3: (None, NOW)}, {"a": LATER, "b": LATER})

    firing = firing_shards(view, me="a", now=NOW, shards=5)

    assert firing == {0, 2, 3, 4}
