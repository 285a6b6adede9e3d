"""The kill loop's verdict: how accepted triggers, execution records and target hits become its figures."""

from __future__ import annotations

from typing import Any

from bench.kill_loop import Accepted, LoadLog, Observed, tally


def record(execution_id: str, status: str = "succeeded", http_attempts: int = 1) -> dict[str, Any]:
    return {
        "executionId": execution_id,
        "status": status,
        "actions": [
            {"type": "log", "attempts": 1, "status": "succeeded"},
            {
                "type": "http-request",
                "attempts": http_attempts,
                "status": "succeeded" if status == "succeeded" else "running",
            },
        ],
    }


def accepted(execution_id: str) -> Accepted:
    return Accepted("w", execution_id, f"/p/{execution_id}")


def figures(log: LoadLog, records: list[dict[str, Any]], hits: dict[str, int], lock: str = "idle") -> dict[str, Any]:
    return tally(log, Observed(records={"w": records}, locks={"w": lock}, hits=hits))


def test_a_clean_run_has_nothing_lost_doubled_or_repeated() -> None:
    log = LoadLog(accepted=[accepted("e1"), accepted("e2")])

    result = figures(log, [record("e1"), record("e2")], {"/p/e1": 1, "/p/e2": 1})

    assert (result["triggers_accepted"], result["executions_finished"]) == (2, 2)
    assert (result["lost"], result["stuck"], result["stuck_locks"], result["doubled"]) == (0, 0, 0, 0)
    assert (result["in_flight_repeats"], result["actions_missing"]) == (0, 0)


def test_a_rerun_the_record_accounts_for_is_an_in_flight_repeat() -> None:
    result = figures(LoadLog(accepted=[accepted("e1")]), [record("e1", http_attempts=2)], {"/p/e1": 2})

    assert (result["in_flight_repeats"], result["doubled"], result["executions_taken_over"]) == (1, 0, 1)


def test_a_takeover_whose_first_run_never_reached_the_target_repeats_nothing() -> None:
    result = figures(LoadLog(accepted=[accepted("e1")]), [record("e1", http_attempts=2)], {"/p/e1": 1})

    assert (result["in_flight_repeats"], result["doubled"]) == (0, 0)


def test_runs_beyond_the_recorded_attempts_are_doubled() -> None:
    result = figures(LoadLog(accepted=[accepted("e1")]), [record("e1", http_attempts=1)], {"/p/e1": 3})

    assert result["doubled"] == 2
    assert result["doubled_detail"]["unaccounted_action_runs"] == 2


def test_a_record_no_accepted_trigger_created_is_doubled() -> None:
    result = figures(LoadLog(accepted=[accepted("e1")]), [record("e1"), record("stray")], {"/p/e1": 1})

    assert result["doubled_detail"]["extra_execution_records"] == 1


def test_an_accepted_trigger_without_a_record_is_lost_and_an_unfinished_one_stuck() -> None:
    log = LoadLog(accepted=[accepted("e1"), accepted("e2")])

    result = figures(log, [record("e2", status="running")], {}, lock="busy")

    assert (result["lost"], result["stuck"], result["stuck_locks"], result["executions_finished"]) == (1, 1, 1, 0)


def test_a_succeeded_execution_whose_action_never_reached_the_target_is_missing_an_action() -> None:
    result = figures(LoadLog(accepted=[accepted("e1")]), [record("e1")], {})

    assert result["actions_missing"] == 1


def saga_record(execution_id: str, status: str = "failed", undo_attempts: int = 1) -> dict[str, Any]:
    def run(attempts: int = 1, status: str = "succeeded") -> dict[str, Any]:
        return {"type": "http-request", "attempts": attempts, "status": status}

    return {
        "executionId": execution_id,
        "status": status,
        "actions": [run(), run(status="failed")],
        "compensations": [run(undo_attempts)],
        "onFailure": [run()],
    }


def test_a_saga_counts_every_handler_run_against_its_own_path() -> None:
    saga = Accepted("w", "e1", "/p/e1", saga=True)
    hits = {"/p/e1": 1, "/p/e1/fail": 1, "/p/e1/undo": 2, "/p/e1/notify": 1}

    result = figures(LoadLog(accepted=[saga]), [saga_record("e1", undo_attempts=1)], hits)

    assert (result["doubled"], result["wrong_outcome"], result["actions_missing"]) == (1, 0, 0)


def test_a_saga_that_did_not_fail_or_skipped_a_handler_is_a_wrong_outcome() -> None:
    saga = Accepted("w", "e1", "/p/e1", saga=True)
    skipped_handler = saga_record("e2")
    skipped_handler["onFailure"] = []
    log = LoadLog(accepted=[saga, Accepted("w", "e2", "/p/e2", saga=True)])

    result = figures(log, [saga_record("e1", status="succeeded"), skipped_handler], {})

    assert result["wrong_outcome"] == 2
