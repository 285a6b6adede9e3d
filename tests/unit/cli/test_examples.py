"""The flows in examples/ are valid definitions, as `wfa validate` and the API's model read them."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.examples import EXAMPLES, applicable
from tests.unit.cli.conftest import RealServer


def test_the_examples_hold_the_flows_docs_cli_md_promises() -> None:
    names = {path.name for path in EXAMPLES.iterdir()}

    assert {
        "recurrent-workflow.yaml",
        "nightly-report.yaml",
        "ship-order.yaml",
        "provision-environment.yaml",
        "deploy-on-push.yaml",
        "import-batches.yaml",
        "publish-release.json",
    } <= names


@pytest.mark.parametrize("path", applicable(), ids=lambda path: path.name)
def test_an_example_is_valid_and_applies(server: RealServer, path: Path) -> None:
    run = server.run("apply", "-f", str(path))

    assert run.code == 0, run.err
    assert run.out.startswith("created ")
