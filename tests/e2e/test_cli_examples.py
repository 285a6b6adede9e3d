"""The real `.venv/bin/wfa`, run as a process against the three services: apply examples/ (their hosts pointed at the
local target), apply again (all unchanged), a --dry-run after a change (a diff, nothing changed), the data-passing
chain with --wait (exit 0), the saga with --wait (exit 1), and --output json that parses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.e2e.target import TargetServer
from tests.examples import applicable

from wfa_devstack import ServiceStack

pytestmark = pytest.mark.e2e

WFA = Path(sys.executable).parent / "wfa"
WAIT_SECONDS = 90
_HOST = re.compile(r"https://(?:([a-z0-9-]+)\.)?example\.com(?=[/\"'\s]|$)", re.MULTILINE)
_WORKFLOW_ID = re.compile(r'^(workflowId: |  "workflowId": ")([A-Za-z0-9._-]+)', re.MULTILINE)


class Flows:
    """examples/ copied to a directory, each `https://<name>.example.com` turned into `<target>/<prefix>/<name>` and
    each workflowId given a suffix, so that this test owns its paths and workflows in the shared session."""

    def __init__(self, directory: Path, target: TargetServer) -> None:
        self.directory = directory
        self.target = target
        self.suffix = uuid.uuid4().hex[:8]
        self.prefix = f"/cli-{self.suffix}"
        for source in applicable():
            text = _HOST.sub(lambda m: target.url(f"{self.prefix}/{m.group(1) or 'www'}"), source.read_text())
            text = _WORKFLOW_ID.sub(lambda m: f"{m.group(1)}{m.group(2)}-{self.suffix}", text)
            (directory / source.name).write_text(text)

    def id(self, stem: str) -> str:
        return f"{stem}-{self.suffix}"

    def path(self, host: str, rest: str) -> str:
        return f"{self.prefix}/{host}{rest}"


@pytest.fixture
def flows(tmp_path: Path, target: TargetServer, services: ServiceStack) -> Iterator[Flows]:
    made = Flows(tmp_path, target)
    yield made
    # The seed flow fires every 10 s: leave nothing scheduled behind for the rest of the session.
    for name in (
        "recurrent-workflow",
        "nightly-report",
        "ship-order",
        "provision-environment",
        "publish-release",
        "deploy-on-push",
        "import-batches",
    ):
        httpx.delete(f"{services.api_url}/workflows/{made.id(name)}", timeout=10)


def wfa(services: ServiceStack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WFA), *args, "--url", services.api_url],
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS + 30,
        env={"PATH": "/usr/bin:/bin", "WFA_API_KEY": ""},
        check=False,
    )


def test_wfa_applies_the_examples_then_finds_them_unchanged(services: ServiceStack, flows: Flows) -> None:
    first = wfa(services, "apply", "-f", str(flows.directory))
    again = wfa(services, "apply", "-f", str(flows.directory), "--output", "json")

    assert first.returncode == 0, first.stderr
    created = [line for line in first.stdout.splitlines() if line.startswith("created ")]
    assert len(created) == len(applicable()) and flows.id("ship-order") in first.stdout
    assert first.stdout.splitlines()[-1] == f"{len(applicable())} created"
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert {item["result"] for item in document["workflows"]} == {"unchanged"}
    assert document["summary"]["unchanged"] == len(applicable())


def test_a_dry_run_after_a_change_shows_the_diff_and_changes_nothing(services: ServiceStack, flows: Flows) -> None:
    assert wfa(services, "apply", "-f", str(flows.directory)).returncode == 0
    seed = flows.directory / "recurrent-workflow.yaml"
    seed.write_text(seed.read_text().replace("interval: 10s", "interval: 30s"))

    dry = wfa(services, "apply", "-f", str(flows.directory), "--dry-run")
    differs = wfa(services, "diff", "-f", str(seed))
    shown = wfa(services, "get", "workflow", flows.id("recurrent-workflow"), "-o", "json")

    assert dry.returncode == 0, dry.stderr
    assert f"would be updated {flows.id('recurrent-workflow')}" in dry.stdout
    assert "-  interval: 10s\n+  interval: 30s" in dry.stdout
    assert "(dry run: nothing was changed)" in dry.stdout
    assert differs.returncode == 1
    resource = json.loads(shown.stdout)
    assert (resource["version"], resource["trigger"]["interval"]) == (1, "10s")


def test_the_data_passing_chain_runs_to_success_with_wait(
    services: ServiceStack, flows: Flows, target: TargetServer
) -> None:
    order = flows.path("shop", "/orders/A-1001")
    target.respond(order, 200, {"email": "ada@example.org", "address": {"city": "Turin"}, "weightKg": 2.5})
    target.respond(flows.path("shipping", "/shipments"), 201, {"tracking": "TRK-9"})
    assert wfa(services, "apply", "-f", str(flows.directory / "ship-order.yaml")).returncode == 0

    run = wfa(
        services,
        "trigger",
        flows.id("ship-order"),
        "--input",
        '{"orderId": "A-1001", "carrier": "dhl"}',
        "--wait",
        "--timeout",
        str(WAIT_SECONDS),
    )

    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("order", "shipment", "notify", "summary"):
        assert f"  {name} succeeded" in run.stdout
    assert re.search(r"^execution \S+ succeeded", run.stdout, re.MULTILINE)
    (shipment,) = target.requests(flows.path("shipping", "/shipments"))
    assert shipment.json() == {"orderId": "A-1001", "address": {"city": "Turin"}, "weightKg": 2.5}
    assert shipment.headers["x-carrier"] == "dhl"
    (mail,) = target.requests(flows.path("mail", "/send"))
    assert mail.json() == {"to": "ada@example.org", "text": "Order A-1001 ships with dhl: tracking TRK-9"}


def test_the_saga_compensates_and_exits_1_with_wait(services: ServiceStack, flows: Flows, target: TargetServer) -> None:
    target.respond(flows.path("cloud", "/databases"), 201, {"id": "db-7", "host": "db-7.internal"})
    target.respond(flows.path("dns", "/records"), 201, {"id": "rec-3"})
    target.respond(flows.path("registry", "/environments"), 409, {"error": "name taken"})
    assert wfa(services, "apply", "-f", str(flows.directory / "provision-environment.yaml")).returncode == 0

    run = wfa(
        services,
        "trigger",
        flows.id("provision-environment"),
        "-i",
        '{"name": "pr-481"}',
        "--wait",
        "--timeout",
        str(WAIT_SECONDS),
        "--output",
        "json",
    )

    assert run.returncode == 1, run.stderr
    execution = json.loads(run.stdout)
    assert execution["status"] == "failed"
    assert [(r["name"], r["status"]) for r in execution["compensations"]] == [
        ("remove-record", "succeeded"),
        ("drop-database", "succeeded"),
    ]
    assert [(r["name"], r["status"]) for r in execution["onFailure"]] == [("page-on-call", "succeeded")]
    assert target.count(flows.path("cloud", "/databases/db-7")) == 1
    (page,) = target.requests(flows.path("chat", "/hooks/on-call"))
    assert page.json()["text"].startswith("provisioning pr-481 failed at register:")


def test_get_and_executions_print_json_that_parses(services: ServiceStack, flows: Flows) -> None:
    assert wfa(services, "apply", "-f", str(flows.directory)).returncode == 0
    assert (
        wfa(services, "trigger", flows.id("recurrent-workflow"), "--wait", "--timeout", str(WAIT_SECONDS)).returncode
        == 0
    )

    listed = wfa(services, "get", "workflows", "-o", "json")
    runs = wfa(services, "executions", "ls", "--workflow", flows.id("recurrent-workflow"), "-o", "json")

    assert flows.id("ship-order") in {item["workflowId"] for item in json.loads(listed.stdout)["items"]}
    assert json.loads(runs.stdout)["items"][0]["status"] == "succeeded"
