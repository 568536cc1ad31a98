"""The fleet file: schema-checked with located messages, and resolved into waves (selectors, canary of one,
size), with the failure budget and the primary-remote topology read from the cluster labels."""
from __future__ import annotations

import textwrap

import pytest

from engine.errors import ValidationError
from engine.fleet.commands import plan_mermaid
from engine.fleet.model import FailureBudget, load_fleet
from engine.fleet.plan import build_fleet_plan


def write(tmp_path, text: str):
    path = tmp_path / "fleet.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def plan_of(tmp_path, text: str):
    return build_fleet_plan(load_fleet(write(tmp_path, text)))


TWELVE = """
version: 1
name: prod
parallelism: 3
failure_budget: {max_failed_percent: 10}
clusters:
""" + "".join(f"  - {{name: c{i:02d}, labels: {{env: {'staging' if i <= 4 else 'prod'}}}}}\n" for i in range(1, 13)) + """
waves:
  - {name: canary, canary: true, select: {env: staging}}
  - {name: staging, select: {env: staging}, soak: 30s}
  - {name: prod, select: {}, parallelism: 8}
"""


def test_waves_take_a_canary_of_one_then_the_rest_of_each_selector_in_file_order(tmp_path):
    plan = plan_of(tmp_path, TWELVE)
    assert [(w.name, w.clusters) for w in plan.waves] == [
        ("canary", ("c01",)), ("staging", ("c02", "c03", "c04")),
        ("prod", tuple(f"c{i:02d}" for i in range(5, 13)))]
    assert [w.parallelism for w in plan.waves] == [3, 3, 8]
    assert plan.waves[1].soak == 30.0 and plan.waves[0].canary
    assert plan.fleet.budget.allowed(12) == 1  # 10% of 12, rounded down


def test_size_splits_a_wave_and_names_the_parts(tmp_path):
    plan = plan_of(tmp_path, """
        version: 1
        clusters: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}]
        waves: [{name: all, select: {}, size: 2}]
    """)
    assert [(w.name, w.clusters) for w in plan.waves] == [("all-1", ("a", "b")), ("all-2", ("c", "d")),
                                                          ("all-3", ("e",))]


@pytest.mark.parametrize("budget, total, allowed", [
    (FailureBudget(), 50, 0), (FailureBudget(max_failed=3), 50, 3), (FailureBudget(percent=10), 50, 5),
    (FailureBudget(percent=10), 9, 0), (FailureBudget(percent=100), 7, 7)])
def test_failure_budget_is_a_count_or_a_percentage_rounded_down(budget, total, allowed):
    assert budget.allowed(total) == allowed


def test_a_remote_starts_after_its_primary_in_the_same_wave(tmp_path):
    plan = plan_of(tmp_path, """
        version: 1
        clusters:
          - {name: r1, labels: {topology: remote, primary: p1}}
          - {name: p1, labels: {topology: primary}}
          - {name: x}
        waves: [{name: all, select: {}}]
    """)
    assert plan.waves[0].clusters == ("p1", "x", "r1")
    assert plan.after == {"r1": "p1"}
    mermaid = plan_mermaid(plan)
    assert 'c0["p1 · primary"]' in mermaid and 'c2["r1 · remote"]' in mermaid
    assert "c0 -. new revision ready .-> c2" in mermaid


BAD = [
    ("no clusters key", "version: 1\nwaves: [{name: a, select: {}}]\n", "'clusters' is a required property"),
    ("unknown key with a hint", "version: 1\nclusters: [{name: a, lables: {}}]\nwaves: [{name: w, select: {}}]\n",
     "did you mean 'labels'"),
    ("both budgets", "version: 1\nfailure_budget: {max_failed_clusters: 1, max_failed_percent: 5}\n"
                     "clusters: [{name: a}]\nwaves: [{name: w, select: {}}]\n", "failure_budget"),
    ("a wave with neither clusters nor select", "version: 1\nclusters: [{name: a}]\nwaves: [{name: w}]\n", "waves[0]"),
    ("duplicate cluster", "version: 1\nclusters: [{name: a}, {name: a}]\nwaves: [{name: w, select: {}}]\n",
     "cluster 'a' is listed twice"),
    ("unknown cluster in a wave", "version: 1\nclusters: [{name: a}]\nwaves: [{name: w, clusters: [b]}]\n",
     "names cluster 'b', which is not in clusters"),
    ("cluster in no wave", "version: 1\nclusters: [{name: a, labels: {env: x}}, {name: b}]\n"
                           "waves: [{name: w, select: {env: x}}]\n", "cluster 'b' is in no wave"),
    ("cluster in two waves", "version: 1\nclusters: [{name: a}]\nwaves: [{name: w, clusters: [a]}, "
                             "{name: v, clusters: [a]}]\n", "already in wave 'w'"),
    ("wave selecting nothing", "version: 1\nclusters: [{name: a}]\nwaves: [{name: w, select: {}}, "
                               "{name: v, select: {}}]\n", "wave 'v' has no cluster"),
    ("remote without primary", "version: 1\nclusters: [{name: r, labels: {topology: remote}}]\n"
                               "waves: [{name: w, select: {}}]\n", "remote cluster 'r' has no primary"),
    ("remote naming a non-primary", "version: 1\nclusters: [{name: r, labels: {topology: remote, primary: p}}, "
                                    "{name: p}]\nwaves: [{name: w, select: {}}]\n", "'p' is not labelled topology: primary"),
    ("remote before its primary", "version: 1\nclusters: [{name: r, labels: {topology: remote, primary: p}}, "
                                  "{name: p, labels: {topology: primary}}]\n"
                                  "waves: [{name: w, clusters: [r]}, {name: v, clusters: [p]}]\n",
     "is in an earlier wave than its primary 'p'"),
    ("odd topology", "version: 1\nclusters: [{name: a, labels: {topology: hub}}]\nwaves: [{name: w, select: {}}]\n",
     "neither primary nor remote"),
]


@pytest.mark.parametrize("case, text, message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_fleet_file_is_refused_with_a_located_message(tmp_path, case, text, message):
    with pytest.raises(ValidationError) as err:
        build_fleet_plan(load_fleet(write(tmp_path, text)))
    assert message in str(err.value)
    assert str(tmp_path / "fleet.yaml") in str(err.value)
