"""`playbook rollback RUN --engine temporal`: a Temporal run that has ended is rolled back by the workers, every
started step newest first, with the local rollback's exit codes (0 undone, 3 a compensation failed, 2 not
confirmed); a second rollback undoes only what the first left. Against the emulator with the real kubectl."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import Project

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_harness import KUBECTL  # noqa: E402
from engine.emulator import Emulator  # noqa: E402

pytestmark = pytest.mark.skipif(KUBECTL is None, reason="the steps drive the real kubectl binary")

# cm is undone by the kubectl plugin's natural rollback (delete what the apply created); label and last by
# their own rollback. `last`'s compensation fails until the file `mended` exists.
PLAYBOOK = """
version: 1
steps:
  - id: cm
    uses: kubectl
    with:
      namespace: default
      apply: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: rollback-probe}
        data: {rev: "2"}
  - id: label
    needs: [cm]
    uses: shell
    with: {script: "echo do label >> log; kubectl label namespace default probe=on --overwrite"}
    rollback: {uses: shell, with: {script: "echo undo label >> log; kubectl label namespace default probe-"}}
  - id: last
    needs: [label]
    uses: shell
    with: {script: "echo do last >> log"}
    rollback: {uses: shell, with: {script: "echo undo last >> log; test -f mended || exit 7"}}
"""


def _kubectl(emu: Emulator, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, *args], env={**os.environ, **emu.env()}, capture_output=True, text=True,
                          timeout=60)


def _cluster_changed(emu: Emulator) -> tuple[bool, bool]:
    """(the ConfigMap exists, the namespace carries the label)."""
    cm = _kubectl(emu, "get", "configmap", "rollback-probe", "-n", "default").returncode == 0
    labels = _kubectl(emu, "get", "namespace", "default", "-o", "jsonpath={.metadata.labels.probe}").stdout
    return cm, labels == "on"


@pytest.fixture
def finished_run(tmp_path, temporal_worker):
    """A run of PLAYBOOK that succeeded on Temporal: (project, emulator, run id, rollback flags)."""
    emu = Emulator(state_dir=tmp_path / "emulator", readiness_delay=0.05)
    emu.start()
    try:
        project = Project(tmp_path)
        project.write("p.yaml", PLAYBOOK)
        flags = temporal_worker(tmp_path, f"q-rollback-{uuid.uuid4().hex[:6]}", env=emu.env())
        result = project.run("run", "p.yaml", *flags, env=emu.env(), timeout=180)
        assert result.rc == 0, result.out + result.err
        run_id = re.search(r"^run (\S+) submitted to Temporal", result.out, re.M).group(1)
        assert _cluster_changed(emu) == (True, True)
        address = flags[flags.index("--temporal-address") + 1]
        yield project, emu, run_id, ["--engine", "temporal", "--temporal-address", address]
    finally:
        emu.stop()


def _log(project: Project) -> list[str]:
    return project.path("log").read_text().splitlines()


def test_a_finished_temporal_run_is_rolled_back_newest_first_by_the_workers(finished_run):
    project, emu, run_id, flags = finished_run
    project.path("mended").touch()

    unconfirmed = project.run("rollback", run_id, *flags, timeout=120)  # no terminal, no --yes
    assert unconfirmed.rc == 2, unconfirmed.out + unconfirmed.err
    assert "needs confirmation" in unconfirmed.err and _log(project) == ["do label", "do last"]

    result = project.run("rollback", run_id, "--yes", *flags, timeout=180)
    assert result.rc == 0, result.out + result.err
    undone = [line for line in result.out.splitlines() if line.startswith("↶")]
    assert undone == ["↶ last rolled back", "↶ label rolled back", "↶ cm rolled back"]
    assert _log(project) == ["do label", "do last", "undo last", "undo label"]
    assert _cluster_changed(emu) == (False, False)
    assert "run rolled_back (exit 0)" in result.out

    shown = project.run("show", run_id, *flags, timeout=120)
    assert shown.rc == 0, shown.out + shown.err
    assert "result: rolled_back (exit 0)" in shown.out
    assert all(re.search(rf"^\s+rolled_back\s+{key}\b", shown.out, re.M) for key in ("cm", "label", "last")), shown.out

    again = project.run("rollback", run_id, "--yes", *flags, timeout=120)
    assert again.rc == 0, again.out + again.err
    assert f"run {run_id}: nothing left to roll back" in again.out
    assert _log(project) == ["do label", "do last", "undo last", "undo label"]


def test_a_failing_compensation_exits_3_the_rest_still_run_and_a_second_rollback_retries_only_it(finished_run):
    project, emu, run_id, flags = finished_run

    failed = project.run("rollback", run_id, "--yes", *flags, timeout=180)
    assert failed.rc == 3, failed.out + failed.err
    assert "✗ last rollback failed" in failed.out
    assert _log(project) == ["do label", "do last", "undo last", "undo label"]
    assert _cluster_changed(emu) == (False, False)  # label and cm undone after last's compensation failed

    project.path("mended").touch()
    mended = project.run("rollback", run_id, "--yes", *flags, timeout=180)
    assert mended.rc == 0, mended.out + mended.err
    assert [line for line in mended.out.splitlines() if line.startswith("↶")] == ["↶ last rolled back"]
    assert _log(project) == ["do label", "do last", "undo last", "undo label", "undo last"]


def test_a_run_still_running_is_not_rolled_back_from_outside(tmp_path, temporal_worker):
    """Refused with exit 2 and nothing undone: the run rolls back itself when cancelled; its step ends in 20 s."""
    project = Project(tmp_path)
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: long, uses: shell, with: {script: "echo do long >> log; sleep 20"},
             rollback: {uses: shell, with: {script: "echo undo long >> log"}}}
    """)
    flags = temporal_worker(tmp_path, f"q-running-{uuid.uuid4().hex[:6]}")
    started = project.run("run", "p.yaml", "--detach", *flags, timeout=120)
    assert started.rc == 0, started.out + started.err
    run_id = started.out.split()[-1]
    address = flags[flags.index("--temporal-address") + 1]
    refused = project.run("rollback", run_id, "--yes", "--engine", "temporal", "--temporal-address", address,
                          timeout=120)
    assert refused.rc == 2, refused.out + refused.err
    assert f"run {run_id} is still running on Temporal" in refused.err
    assert "a cancelled run rolls back its started steps itself" in refused.err
    assert not project.path("log").exists() or "undo long" not in project.path("log").read_text()
