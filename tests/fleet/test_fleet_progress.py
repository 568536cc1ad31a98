"""Live progress of a fleet: clusters by wave with their current step; text lines name cluster and status;
the webhook notifier names cluster and wave; the status table after a run."""
from __future__ import annotations

import io
import json
import textwrap

from engine.fleet.journal import FleetState
from engine.fleet.model import load_fleet
from engine.fleet.plan import build_fleet_plan
from engine.fleet.progress import FleetNotifier, LivePresenter, TextPresenter, progress_block


def plan_and_state(tmp_path):
    path = tmp_path / "fleet.yaml"
    path.write_text(textwrap.dedent("""
        version: 1
        clusters: [{name: a}, {name: b}, {name: c}]
        waves: [{name: canary, canary: true, select: {}}, {name: rest, select: {}}]
    """), encoding="utf-8")
    plan = build_fleet_plan(load_fleet(path))
    state = FleetState()
    state.apply({"event": "fleet_started", "time": 1.0, "waves": [{"name": w.name, "clusters": list(w.clusters)}
                                                                  for w in plan.waves]})
    return plan, state


def test_the_block_shows_each_wave_and_the_current_step_of_each_running_cluster(tmp_path):
    plan, state = plan_and_state(tmp_path)
    for rec in ({"event": "cluster_started", "cluster": "a", "time": 1.0},
                {"event": "cluster_finished", "cluster": "a", "status": "succeeded", "time": 5.0},
                {"event": "cluster_started", "cluster": "b", "time": 6.0},
                {"event": "cluster_started", "cluster": "c", "time": 6.0}):
        state.apply(rec)
    state.clusters["b"].step = "migrate[prod].ns[web].restart"
    block = progress_block(plan, state, now=16.0)
    assert block[0] == "wave canary [1 succeeded]"
    assert block[1] == "wave rest [2 running]"
    assert block[2].split() == ["▶", "b", "running", "10.0s", "migrate[prod].ns[web].restart"]
    assert block[3].split() == ["▶", "c", "running", "10.0s"]


def test_the_live_view_redraws_the_block_below_the_fleet_lines(tmp_path):
    plan, state = plan_and_state(tmp_path)
    out = io.StringIO()
    live = LivePresenter(out, plan, state, interval=60)
    state.apply({"event": "cluster_started", "cluster": "a", "time": 1.0})
    live({"event": "cluster_started", "cluster": "a", "wave": "canary", "command": "run", "time": 1.0})
    state.apply({"event": "cluster_finished", "cluster": "a", "status": "succeeded", "time": 2.0})
    live({"event": "cluster_finished", "cluster": "a", "wave": "canary", "status": "succeeded", "time": 2.0})
    live.close()
    text = out.getvalue()
    assert "  ▶ a: run\n" in text and "  ✓ a: succeeded\n" in text
    assert "\x1b[" in text  # the block was cleared and drawn again
    assert text.rstrip().endswith("wave rest [2 pending]")


def test_text_lines_leave_out_a_clusters_step_events_but_name_its_failures():
    out = io.StringIO()
    text = TextPresenter(out)
    text({"event": "step_started", "step": "install", "cluster": "a", "wave": "w"})
    text({"event": "step_failed", "step": "install", "cluster": "a", "wave": "w", "message": "exit code 1"})
    text({"event": "cluster_finished", "cluster": "a", "wave": "w", "status": "failed", "message": "step install"})
    assert out.getvalue().splitlines() == ["    a: ✗ install: exit code 1", "  ✗ a: failed — step install"]


def test_notifications_name_the_cluster_and_the_wave():
    sent = []
    notify = FleetNotifier("http://hook.invalid/x", "20260101-000000-abcdef", "prod", print,
                           post=lambda url, body: sent.append(json.loads(body)))
    notify({"event": "cluster_finished", "cluster": "eu-1", "wave": "canary", "status": "failed",
            "run_id": "r1", "message": "step install"})
    notify({"event": "cluster_finished", "cluster": "eu-2", "wave": "canary", "status": "succeeded"})
    notify({"event": "fleet_finished", "status": "rolled_back", "exit_code": 1})
    assert sent[0] == {"fleet": "prod", "fleet_run": "20260101-000000-abcdef", "event": "cluster_failed",
                       "cluster": "eu-1", "wave": "canary", "status": "failed", "run": "r1",
                       "message": "step install"}
    assert [s["event"] for s in sent] == ["cluster_failed", "finished"]


def test_a_gates_output_is_shown_so_its_question_can_be_answered():
    out = io.StringIO()
    text = TextPresenter(out)
    text({"event": "step_output", "step": "approve", "gate": "staging", "wave": "staging", "stream": "stdout",
          "line": "Staging looks healthy: go on to production? [y/N]"})
    text({"event": "step_output", "step": "install", "cluster": "a", "wave": "w", "stream": "stdout", "line": "x"})
    assert out.getvalue() == "    gate staging: Staging looks healthy: go on to production? [y/N]\n"
