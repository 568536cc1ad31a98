"""docs/fleet.md stays true: its example fleet file is valid and its Mermaid graph is what `fleet plan
--format mermaid` prints for it; its reference names every key of schemas/fleet.schema.json."""
from __future__ import annotations

import re
from pathlib import Path

from engine.fleet.commands import plan_mermaid
from engine.fleet.model import fleet_schema, load_fleet
from engine.fleet.plan import build_fleet_plan

DOC = Path(__file__).resolve().parents[2] / "docs" / "fleet.md"


def block(lang: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    return re.search(rf"```{lang}\n(.*?)```", text, re.S).group(1)


def test_the_example_fleet_file_plans_to_the_mermaid_graph_shown(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(block("yaml"), encoding="utf-8")
    plan = build_fleet_plan(load_fleet(path))
    assert plan_mermaid(plan) == block("mermaid").rstrip("\n")
    assert plan.after == {"prod-eu-2": "prod-eu-1"}


def test_the_reference_names_every_key_of_the_schema():
    text = DOC.read_text(encoding="utf-8")
    schema = fleet_schema()
    keys = [f"`{k}[]`" if schema["properties"][k].get("type") == "array" else f"`{k}`"
            for k in schema["properties"] if k not in ("on_halt", "failure_budget")]
    keys += [f"`on_halt.{k}`" for k in schema["properties"]["on_halt"]["properties"]]
    keys += [f"`clusters[].{k}`" for k in schema["$defs"]["cluster"]["properties"]]
    keys += [f"`waves[].{k}`" for k in schema["$defs"]["wave"]["properties"]]
    keys += [f"{k}: " for k in schema["properties"]["failure_budget"]["properties"]]
    missing = [k for k in keys if k not in text]
    assert not missing, missing
