"""A worker lost mid-step (its process group SIGKILLed, as when its machine dies): the run goes on with another
worker of the same queue; finished steps are not run again, the interrupted one runs again from its start, told
which attempt it is, so a step can find the effect its lost attempt left and not do it twice."""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

PLAYBOOK = """
version: 1
steps:
  - {id: s1, uses: shell, with: {script: 'echo "s1 $WORKER" >> log'}}
  - {id: s2, needs: [s1], uses: shell, with: {script: 'echo "s2-start $WORKER" >> log; sleep 4; echo "s2-end $WORKER" >> log'}}
  - {id: s3, needs: [s2], uses: shell, with: {script: 'echo "s3 $WORKER" >> log'}}
"""


FAILING = """
version: 1
steps:
  - id: s1
    uses: shell
    with: {script: 'echo "s1 $WORKER" >> log'}
    rollback: {uses: shell, with: {script: 'echo "undo s1 $WORKER" >> log'}}
  - id: s2
    needs: [s1]
    uses: shell
    with: {script: 'echo "s2-start $WORKER" >> log; sleep 4; echo "s2-end $WORKER" >> log'}
    rollback: {uses: shell, with: {script: 'echo "undo s2 $WORKER" >> log'}}
  - id: s3
    needs: [s2]
    uses: shell
    with: {script: 'echo "s3 $WORKER" >> log; exit 1'}
    rollback: {uses: shell, with: {script: 'echo "undo s3 $WORKER" >> log'}}
"""


# s2's effect is done first, then it is killed while it sleeps: its next attempt (on the other worker) finds the
# mark the lost one left under the same run id. Without PLAYBOOK_RUN_ID the step fails rather than guess.
ONCE = """
version: 1
steps:
  - {id: s1, uses: shell, with: {script: 'echo "s1 $WORKER" >> log'}}
  - id: s2
    needs: [s1]
    uses: shell
    with:
      script: |
        mark="effect ${PLAYBOOK_RUN_ID:?} ${PLAYBOOK_STEP:?}"
        grep -qxF "$mark" log || echo "$mark" >> log
        echo "s2-start $WORKER ${PLAYBOOK_ATTEMPT:?}" >> log
        sleep 4
        echo "s2-end $WORKER" >> log
  - {id: s3, needs: [s2], uses: shell, with: {script: 'echo "s3 $WORKER" >> log'}}
"""


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (steps run their children in sessions of their own), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            ppid = int(stat.rpartition(")")[2].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _machine_dies(pid: int) -> None:
    """SIGKILL a worker and everything it started, at once, as when its machine goes away."""
    victims = [pid, *_descendants(pid)]
    for victim in victims:
        try:
            os.kill(victim, signal.SIGSTOP)  # frozen first: nothing may write after the "death"
        except ProcessLookupError:
            pass
    for victim in victims:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _lines(project) -> list[str]:
    path = project.path("log")
    return path.read_text().splitlines() if path.exists() else []


def _lose_the_worker_of_s2(project, temporal_worker) -> tuple[int, str, str]:
    """Run p.yaml with workers A and B; kill the one that starts s2, mid-step. (exit code, output, holder)."""
    queue = f"q-loss-{uuid.uuid4().hex[:6]}"
    flags = temporal_worker(project.root, queue, env={"WORKER": "A"})
    temporal_worker(project.root, queue, env={"WORKER": "B"})
    workers = dict(zip("AB", temporal_worker.procs))
    proc = project.popen("run", "p.yaml", *flags, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("s2-start") for line in _lines(project)):
            assert time.monotonic() < deadline and proc.poll() is None, (_lines(project), proc.poll())
            time.sleep(0.1)
        holder = next(line for line in _lines(project) if line.startswith("s2-start")).split()[1]
        _machine_dies(workers[holder].pid)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, out + err, holder


def test_a_step_lost_with_its_worker_is_finished_by_another_worker(project, temporal_worker):
    project.write("p.yaml", PLAYBOOK)
    rc, out, holder = _lose_the_worker_of_s2(project, temporal_worker)
    other = "B" if holder == "A" else "A"
    assert rc == 0, out
    log = _lines(project)
    assert log[1:] == [f"s2-start {holder}", f"s2-start {other}", f"s2-end {other}", f"s3 {other}"], log
    assert len([line for line in log if line.startswith("s1 ")]) == 1  # done before the loss: not run again


def test_a_step_lost_after_its_effect_finds_its_earlier_attempt_and_does_the_effect_once(project, temporal_worker):
    project.write("p.yaml", ONCE)
    rc, out, holder = _lose_the_worker_of_s2(project, temporal_worker)
    other = "B" if holder == "A" else "A"
    assert rc == 0, out
    run_id = out.split()[1]
    log = _lines(project)
    assert log[1:] == [f"effect {run_id} s2", f"s2-start {holder} 1", f"s2-start {other} 2", f"s2-end {other}",
                       f"s3 {other}"], log


def test_a_failure_after_the_loss_rolls_back_every_started_step_in_reverse_order(project, temporal_worker):
    project.write("p.yaml", FAILING)
    rc, out, holder = _lose_the_worker_of_s2(project, temporal_worker)
    other = "B" if holder == "A" else "A"
    assert rc == 1, out
    assert _lines(project)[1:] == [f"s2-start {holder}", f"s2-start {other}", f"s2-end {other}", f"s3 {other}",
                                   f"undo s3 {other}", f"undo s2 {other}", f"undo s1 {other}"], _lines(project)
