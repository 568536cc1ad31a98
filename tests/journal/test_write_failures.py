"""A journal that cannot be written stops the run before its next step, with an error saying why and what next.

In-process cases inject the failure at chosen events (always run); the mount cases use a real read-only
and a real full file system (tmpfs; skipped where mounting is not allowed).
"""
from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest

from engine.errors import JournalError
from engine.events import Fanout, Recorder
from engine.journal import JournalSink, read_journal
from engine.prepare import prepare
from engine.runner import Runner

from .conftest import lines

THREE_STEPS = """
version: 1
steps:
  - id: one
    uses: shell
    with: {script: "echo do one >> %(log)s"}
    rollback: {uses: shell, with: {script: "echo undo one >> %(log)s"}}
  - id: two
    needs: [one]
    uses: shell
    with: {script: "echo do two >> %(log)s"}
    rollback: {uses: shell, with: {script: "echo undo two >> %(log)s"}}
  - id: three
    needs: [two]
    uses: shell
    with: {script: "echo do three >> %(log)s"}
"""


class FailingJournal(JournalSink):
    """Fails the write of the `fail_at`-th event (1-based) with `err`, as a full or read-only disk would."""

    def __init__(self, *args, fail_at: int, err: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fail_at, self.err, self.writes = fail_at, err, 0

    def _append(self, data: bytes) -> None:
        self.writes += 1
        if self.writes == self.fail_at:
            raise OSError(self.err, "injected")
        super()._append(data)


def _run_with_failure(tmp_path: Path, fail_at: int, err: int) -> tuple[JournalError, Recorder, list[str]]:
    log = tmp_path / "log"
    (tmp_path / "p.yaml").write_text(THREE_STEPS % {"log": log})
    prepared = prepare(tmp_path / "p.yaml")
    run_dir = tmp_path / "runs" / "r1"
    JournalSink.create(run_dir, meta={"run_id": "r1"}, playbook_text="", inputs={}).close()
    journal = FailingJournal(run_dir, fail_at=fail_at, err=err)
    journal._open()
    seen = Recorder()  # before the journal, so it also sees what the journal refused
    runner = Runner(prepared, sink=Fanout(seen, journal), run_dir=run_dir)
    with pytest.raises(JournalError) as caught:
        runner.run()
    journal.close()
    return caught.value, seen, lines(log)


# Events in order: 1 run_started, 2 step_started one, 3 step_succeeded one, 4 step_started two, ...
@pytest.mark.parametrize("fail_at, err, ran, message", [
    (1, errno.ENOSPC, [], "no space left on device"),
    (2, errno.ENOSPC, [], "no space left on device"),
    (3, errno.EROFS, ["do one"], "read-only file system"),
    (4, errno.EROFS, ["do one"], "read-only file system"),
    (5, errno.EIO, ["do one", "do two"], "injected"),
], ids=["run_started", "start-of-one", "end-of-one", "start-of-two", "end-of-two"])
def test_a_failed_journal_write_stops_before_the_next_step(tmp_path, fail_at, err, ran, message):
    error, seen, log = _run_with_failure(tmp_path, fail_at, err)
    assert log == ran, "a step ran that the journal could not record, or nothing stopped the run"
    text = str(error)
    assert f"cannot write the run journal {tmp_path / 'runs' / 'r1'}: {message}" in text
    assert "the run stops rather than act unrecorded" in text and "playbook resume r1" in text
    # Nothing was rolled back unrecorded either (not even tried): that is left to `playbook rollback`.
    assert not any(e.kind.startswith("rollback") for e in seen.events)
    assert not any(e.kind == "step_started" for e in seen.events[fail_at:])


def test_events_written_before_the_failure_stay_readable(tmp_path):
    _run_with_failure(tmp_path, fail_at=4, err=errno.ENOSPC)
    state = read_journal(tmp_path / "runs" / "r1").state
    assert state.steps["one"].status == "succeeded"
    assert "two" not in state.steps  # its start could not be recorded, so it never started
    assert state.status() == "killed" and state.to_undo() == ["one"]


def test_output_that_cannot_be_written_breaks_the_journal_at_the_next_event(tmp_path, monkeypatch):
    from engine.events import Event
    run_dir = tmp_path / "r"
    sink = JournalSink.create(run_dir, meta={}, playbook_text="", inputs={})
    sink.emit(Event("step_started", "a", {}))
    monkeypatch.setattr("builtins.open", _raise_enospc)
    sink.emit(Event("step_output", "a", {"stream": "stdout", "line": "x"}))  # from a pipe thread: no raise
    with pytest.raises(JournalError, match="no space left on device"):
        sink.emit(Event("step_succeeded", "a", {}))


def _raise_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


# -- real file systems ------------------------------------------------------------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """A mount point with a small tmpfs; skipped where mounting is not allowed."""
    mounted: list[Path] = []

    def make(size: str) -> Path:
        point = tmp_path / f"fs{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True, timeout=10)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=10)


def test_read_only_journal_directory_refuses_to_start(project, tmpfs):
    fs = tmpfs("1m")
    (fs / "runs").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True, timeout=10)
    project.write("p.yaml", THREE_STEPS % {"log": project.path("log")})
    result = project.run("run", "p.yaml", "--runs-dir", str(fs / "runs"))
    assert result.rc == 2, result.out + result.err  # nothing ran
    assert f"error: cannot write the run journal in {fs / 'runs'}: read-only file system" in result.err
    assert "Traceback" not in result.err
    assert not project.path("log").exists()


FILLS_THE_DISK = """
version: 1
steps:
  - id: one
    uses: shell
    with: {script: "echo do one >> %(log)s"}
  - id: fill
    needs: [one]
    uses: shell
    with: {script: "echo do fill >> %(log)s; dd if=/dev/zero of=%(filler)s bs=4k 2>/dev/null; true"}
  - id: three
    needs: [fill]
    uses: shell
    with: {script: "echo do three >> %(log)s"}
"""


def test_disk_full_mid_run_stops_before_the_next_step_and_resume_finishes_once_freed(project, tmpfs):
    fs = tmpfs("512k")
    runs = fs / "runs"
    filler = fs / "filler"
    project.write("p.yaml", FILLS_THE_DISK % {"log": project.path("log"), "filler": filler})
    result = project.run("run", "p.yaml", "--runs-dir", str(runs))
    assert result.rc == 3, result.out + result.err  # stopped half-way, nothing rolled back: manual attention
    assert "no space left on device; the run stops rather than act unrecorded" in result.err
    assert "Traceback" not in result.err
    assert lines(project.path("log")) == ["do one", "do fill"]
    # Which write failed depends on the file system's slack: `fill`'s end may or may not have been recorded.
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    fill_recorded = read_journal(run_dir).state.steps["fill"].status == "succeeded"
    filler.unlink()
    resumed = project.run("resume", "last", "--runs-dir", str(runs))
    assert resumed.rc == 0, resumed.out + resumed.err
    # A step whose end is not in the journal is not known to have finished: it runs again; `one` never does.
    again = [] if fill_recorded else ["do fill"]
    assert lines(project.path("log")) == ["do one", "do fill", *again, "do three"]
