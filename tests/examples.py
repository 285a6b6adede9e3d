"""The flows in examples/ that the tests apply."""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).parents[1] / "examples"


def applicable() -> list[Path]:
    """Every example file (YAML and JSON)."""
    return sorted(path for path in EXAMPLES.iterdir() if path.suffix in (".yaml", ".yml", ".json"))
