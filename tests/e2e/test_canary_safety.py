"""The safety checks of canary-upgrade.yaml stop the run before anything changes: the target revision already
exists, a revision tag collides, an injection webhook points at an istiod with no ready pod, a namespace the
old revision injects is in no wave, the nodes have no room for a second control plane."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e_harness import FAST, cluster_state, run_playbook

DEMO = yaml.safe_load((Path(__file__).resolve().parents[2] / "engine/emulator/clusters/demo.yaml").read_text())
CHANGING = ("install-istioctl", "install-helm", "migrate[", "gateway.", "promote.")


def _demo(**extra) -> dict:
    return {**DEMO, **extra}


@pytest.mark.parametrize("case, cluster, args, failed", [
    ("default tag points elsewhere", _demo(tags={"default": "1-18-0"}), [], "no-tag-collision"),
    ("a tag is named like the new revision", _demo(tags={"1-20-0": "default"}), [], "no-tag-collision"),
    ("a webhook points at a dead istiod", _demo(tags={"canary": "1-18-0"}), [], "webhooks-point-at-live-istiod"),
    ("a namespace is in no wave", None, ["--var", "waves=[{name: test, namespaces: [test-namespace]}]"],
     "every-injected-namespace-in-a-wave"),
    ("no room for a second control plane", None, ["--var", "pilot_cpu_request=200"], "room-for-two-control-planes"),
])
def test_a_failed_safety_check_changes_nothing(emulator_factory, tmp_path, case, cluster, args, failed):
    emu = emulator_factory(cluster)
    before = cluster_state(emu)

    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", *args, *FAST, tmp=tmp_path)

    assert run.rc == 1, run.why()
    assert failed in run.finished()["failed"], run.why()
    assert not [k for k in run.keys("step_started") if k.startswith(CHANGING)], case
    assert cluster_state(emu) == before


def test_an_existing_target_revision_is_refused(emulator_factory, tmp_path):
    emu = emulator_factory()
    env = {**os.environ, **emu.env()}
    installed = subprocess.run(["istioctl", "install", "-y", "--revision", "1-20-0"], env=env, capture_output=True,
                               text=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    before = cluster_state(emu)

    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", *FAST, tmp=tmp_path)

    assert run.rc == 1 and "target-revision-is-new" in run.finished()["failed"], run.why()
    message = next(e for e in run.events if e["event"] == "step_failed" and e["step"] == "target-revision-is-new")
    assert "already exists" in message["message"]
    assert cluster_state(emu) == before  # the existing 1-20-0 is not uninstalled by a rollback
