"""`wfa apply`, `wfa validate`, `wfa diff` against the real API over in-memory repositories."""

from __future__ import annotations

import json
from pathlib import Path

from tests.unit.cli.conftest import RealServer, flow, write

SEED = """\
workflowId: recurrent-workflow
trigger: {type: periodic, interval: 10s}
actions:
  - {type: http-request, url: https://example.com, method: GET}
"""


def test_apply_creates_each_workflow_and_prints_a_line_each_and_a_summary(server: RealServer, tmp_path: Path) -> None:
    write(tmp_path, "seed.yaml", SEED)
    write(tmp_path, "two.yaml", flow("first") + "---\n" + flow("second"))

    run = server.run("apply", "-f", str(tmp_path))

    assert run.code == 0, run.err
    assert run.out.splitlines() == [
        "created recurrent-workflow",
        "created first",
        "created second",
        "3 created",
    ]
    assert server.api().get("/workflows/second").json()["version"] == 1


def test_applying_the_same_files_again_changes_nothing(server: RealServer, tmp_path: Path) -> None:
    write(tmp_path, "seed.yaml", SEED)
    server.run("apply", "-f", str(tmp_path))

    run = server.run("apply", "-f", str(tmp_path))

    assert run.code == 0
    assert run.out.splitlines() == ["unchanged recurrent-workflow", "1 unchanged"]
    assert server.api().get("/workflows/recurrent-workflow").json()["version"] == 1


def test_a_changed_file_updates_the_workflow_with_if_match(server: RealServer, tmp_path: Path) -> None:
    path = write(tmp_path, "seed.yaml", SEED)
    server.run("apply", "-f", str(path))
    path.write_text(SEED.replace("10s", "30s"))

    run = server.run("apply", "-f", str(path))

    assert run.out.splitlines() == ["updated recurrent-workflow", "1 updated"]
    resource = server.api().get("/workflows/recurrent-workflow").json()
    assert (resource["version"], resource["trigger"]["interval"]) == (2, "30s")


def test_defaults_written_out_or_left_out_are_the_same_definition(server: RealServer, tmp_path: Path) -> None:
    server.run("apply", "-f", str(write(tmp_path, "a.yaml", flow("w"))))
    explicit = flow("w") + "    level: info\nretry: {maxAttempts: 3, initialInterval: 2s}\n"

    run = server.run("apply", "-f", str(write(tmp_path, "b.yaml", explicit)))

    assert run.out.splitlines()[0] == "unchanged w"


def test_a_resource_as_get_printed_it_applies_unchanged(server: RealServer, tmp_path: Path) -> None:
    server.run("apply", "-f", str(write(tmp_path, "seed.yaml", SEED)))
    shown = server.run("get", "workflow", "recurrent-workflow", "-o", "yaml").out

    run = server.run("apply", "-f", "-", stdin=shown)

    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == "unchanged recurrent-workflow"


def test_apply_reads_json_files_yaml_documents_nested_directories_and_stdin(server: RealServer, tmp_path: Path) -> None:
    write(tmp_path, "a/b/deep.json", json.dumps({**_manual("from-json")}))
    write(tmp_path, "a/multi.yml", flow("doc-0") + "---\n---\n" + flow("doc-1"))
    write(tmp_path, "a/notes.txt", "not a definition")

    run = server.run("apply", "-f", str(tmp_path / "a"), "-f", "-", stdin=flow("from-stdin"))

    assert run.code == 0, run.err
    assert sorted(line.split()[1] for line in run.out.splitlines()[:-1]) == [
        "doc-0",
        "doc-1",
        "from-json",
        "from-stdin",
    ]


def test_paths_after_the_first_one_are_taken_too(server: RealServer, tmp_path: Path) -> None:
    one, two = write(tmp_path, "one.yaml", flow("one")), write(tmp_path, "two.yaml", flow("two"))

    run = server.run("apply", "-f", str(one), str(two))

    assert run.out.splitlines()[-1] == "2 created"


def test_an_invalid_definition_is_reported_with_file_document_and_loc_and_nothing_is_sent(
    server: RealServer, tmp_path: Path
) -> None:
    path = write(
        tmp_path,
        "flows.yaml",
        flow("good")
        + "---\n"
        + "workflowId: bad\ntrigger: {type: periodic, interval: 10 seconds}\n"
        + "actions:\n  - {type: log, message: '{{ actions.later.output }}'}\n",
    )

    run = server.run("apply", "-f", str(path))

    assert run.code == 1
    assert f"invalid: {path}#1: trigger.interval:" in run.err
    assert run.out == ""
    assert server.api().get("/workflows").json()["items"] == []


def test_every_problem_of_every_file_is_reported(server: RealServer, tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "workflowId: a\ntrigger: {type: manual}\nactions:\n  - {type: log, message: '{{ actions.nope.output }}'}\n",
    )
    write(
        tmp_path,
        "b.yaml",
        "workflowId: b\ntrigger: {type: cron, cron: '0 9 * * *', timezone: Mars/Olympus}\nactions: []\n",
    )
    write(tmp_path, "c.yaml", "workflowId: c\n  bad: indentation\n")

    run = server.run("validate", "-f", str(tmp_path), "-o", "json")

    assert run.code == 1
    report = run.json()
    problems = {item["source"].rsplit("/", 1)[1]: item["problems"] for item in report["invalid"]}
    assert problems["a.yaml#0"] == [problems["a.yaml#0"][0]] and "actions.0.log.message" in problems["a.yaml#0"][0]
    assert any(p.startswith("trigger.timezone:") for p in problems["b.yaml#0"])
    assert any(p.startswith("actions:") for p in problems["b.yaml#0"])
    assert problems["c.yaml#0"][0].startswith("not valid YAML")


def test_two_documents_with_one_workflow_id_are_invalid(server: RealServer, tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", flow("same"))
    write(tmp_path, "b.yaml", flow("same", "again"))

    run = server.run("apply", "-f", str(tmp_path))

    assert run.code == 1
    assert "'same' is defined in" in run.err


def test_validate_sends_nothing_and_lists_the_valid_workflows(server: RealServer, tmp_path: Path) -> None:
    write(tmp_path, "seed.yaml", SEED)

    run = server.run("validate", "-f", str(tmp_path), "--url", "http://127.0.0.1:1")

    assert run.code == 0
    assert run.out.splitlines()[-1] == "1 definitions are valid"


def test_dry_run_shows_a_unified_yaml_diff_and_changes_nothing(server: RealServer, tmp_path: Path) -> None:
    path = write(tmp_path, "seed.yaml", SEED)
    server.run("apply", "-f", str(path))
    path.write_text(SEED.replace("10s", "1m") + "---\n" + flow("new-one"))

    run = server.run("apply", "-f", str(path), "--dry-run")

    assert run.code == 0
    assert "would be updated recurrent-workflow" in run.out
    assert "--- server/recurrent-workflow" in run.out and f"+++ {path}#0" in run.out
    assert "-  interval: 10s\n+  interval: 1m" in run.out
    assert "would be created new-one" in run.out
    assert run.out.splitlines()[-1] == "1 created, 1 updated (dry run: nothing was changed)"
    assert server.api().get("/workflows/recurrent-workflow").json()["version"] == 1
    assert server.api().get("/workflows/new-one").status_code == 404


def test_diff_exits_1_when_the_server_differs_and_0_when_it_does_not(server: RealServer, tmp_path: Path) -> None:
    path = write(tmp_path, "seed.yaml", SEED)
    server.run("apply", "-f", str(path))

    same = server.run("diff", "-f", str(path))
    path.write_text(SEED.replace("example.com", "example.org"))
    differs = server.run("diff", "-f", str(path))

    assert (same.code, differs.code) == (0, 1)
    assert any(line.startswith("+") and line.endswith("url: https://example.org") for line in differs.out.splitlines())
    assert server.api().get("/workflows/recurrent-workflow").json()["actions"][0]["url"] == "https://example.com"


def test_apply_output_json_is_one_document_with_every_workflow_and_the_summary(
    server: RealServer, tmp_path: Path
) -> None:
    write(tmp_path, "seed.yaml", SEED)

    run = server.run("apply", "-f", str(tmp_path), "--output", "json")

    document = run.json()
    assert document["summary"]["created"] == 1
    assert document["workflows"][0] | {"diff": None} == {
        "workflowId": "recurrent-workflow",
        "result": "created",
        "source": f"{tmp_path / 'seed.yaml'}#0",
        "version": 1,
        "diff": None,
        "error": None,
        "details": [],
    }
    assert run.err == ""


def test_many_workflows_piped_print_only_their_lines(server: RealServer, tmp_path: Path) -> None:
    for index in range(30):
        write(tmp_path, f"flow-{index:02d}.yaml", flow(f"flow-{index:02d}"))

    run = server.run("apply", "-f", str(tmp_path))

    assert run.out.splitlines() == [f"created flow-{index:02d}" for index in range(30)] + ["30 created"]
    assert run.err == ""


def _manual(workflow_id: str) -> dict[str, object]:
    return {"workflowId": workflow_id, "trigger": {"type": "manual"}, "actions": [{"type": "log", "message": "hi"}]}


def test_many_workflows_on_a_terminal_show_a_progress_bar(server: RealServer, tmp_path: Path) -> None:
    for index in range(25):
        write(tmp_path, f"flow-{index:02d}.yaml", flow(f"flow-{index:02d}"))

    run = server.run("apply", "-f", str(tmp_path), env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})

    assert run.code == 0
    assert "applying" in run.err and "25/25" in run.err
    assert "25 created" in run.out
