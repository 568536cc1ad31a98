"""The live block: what it shows for small and large graphs, and that a question is never drawn over."""
from __future__ import annotations

import io

from engine.events import Event
from engine.progress import LiveReporter


def _live(keys, rows=40, cols=60):
    out = io.StringIO()
    return LiveReporter(out, keys, clock=lambda: 112.0, size=(cols, rows), tick=None), out


def test_small_graph_lists_every_step_with_elapsed_time_and_last_output():
    live, _ = _live(["a", "b", "c"])
    live.emit(Event("step_started", "a", {"uses": "shell"}, time=100.0))
    live.emit(Event("step_output", "a", {"stream": "stdout", "line": "waiting for istiod-1-20 (1/2 ready)"}))
    live.emit(Event("step_output", "a", {"stream": "stdout", "line": "   "}))  # blank lines keep the last one
    assert live.frame() == ["── 0/3 done · 1 running", " ⠦ a  12.0s  │ waiting for istiod-1-20 (1/2 ready)",
                            " · b", " · c"]


def test_large_graph_shows_counts_and_only_the_running_steps_cut_to_the_width():
    keys = [f"migrate[ns{i}].restart" for i in range(30)]
    live, _ = _live(keys, rows=20, cols=40)
    live.emit(Event("step_succeeded", keys[0], {"duration": 1.0}, time=101.0))
    live.emit(Event("step_started", keys[1], {}, time=100.0))
    live.emit(Event("step_output", keys[1], {"stream": "stdout", "line": "x" * 80}))
    frame = live.frame()
    assert frame[0] == "── 1/30 done · 1 running"
    assert len(frame) == 2 and frame[1].startswith(" ⠦ migrate[ns1].restart  12.0s  │ xxx")
    assert len(frame[1]) == 39


def test_a_question_erases_the_block_and_it_comes_back_after_the_answer():
    live, out = _live(["a"])
    live.emit(Event("step_started", "a", {}, time=100.0))
    drawn = out.getvalue()
    answer = live.paused(lambda: out.write("Migrate ns1? [y/N] ") and True)
    after = out.getvalue()[len(drawn):]
    assert answer is True
    # erase (up 2 lines, clear), the question, then the block again
    assert after == "\x1b[2F\x1b[JMigrate ns1? [y/N] ── 0/1 done · 1 running\n ⠦ a  12.0s\n"
    live.emit(Event("step_output", "a", {"stream": "stdout", "line": "y"}))
    assert out.getvalue().endswith("\x1b[2F\x1b[J── 0/1 done · 1 running\n ⠦ a  12.0s  │ y\n")
