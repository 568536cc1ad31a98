"""engine/decisions.py, the decisions both engines take, one table per decision: the order ready steps start in,
a step's gate, a step's retry budget, what a step's end means for the run, and the rollback list."""
from __future__ import annotations

import textwrap

import pytest

from engine.decisions import (INTERRUPTED, RUN, SKIP, STOP, UNTIL_DEFAULT_TIMEOUT, Gate, Schedule, Tries,
                              after_step, decide_gate, gate_through_frames, plan_shape, record_start,
                              rollback_order, rollback_verdict, rolls_back, to_undo)
from engine.errors import EXIT_OK, EXIT_ROLLBACK_FAILED, PlaybookError
from engine.prepare import prepare


def _prepared(tmp_path, playbook: str, **cli_vars):
    path = tmp_path / "p.yaml"
    path.write_text(textwrap.dedent(playbook))
    return prepare(path, cli_vars=cli_vars)


def _start_order(shape, done_without_release=()) -> list[str]:
    """The order steps start in when every ready step starts at once and each is released when the wave
    ends (all succeed), except those in `done_without_release` (failed, no continue_on_error)."""
    schedule, order = Schedule(shape), []
    while schedule.has_ready():
        wave = []
        while schedule.has_ready():
            wave.append(schedule.pop())
        order += wave
        for key in wave:
            if key not in done_without_release:
                schedule.release(key)
    return order


STEP = "{{id: {id}, uses: shell, with: {{script: 'true'}}{extra}}}"


def _steps(*specs: tuple[str, str]) -> str:
    return "version: 1\nsteps:\n" + "".join(f"  - {STEP.format(id=i, extra=e)}\n" for i, e in specs)


FOR_EACH = """
version: 1
steps:
  - id: each
    for_each: [c, a, b]
    serial: {serial}
    steps:
      - {{id: one, uses: shell, with: {{script: 'true'}}}}
      - {{id: two, needs: [one], uses: shell, with: {{script: 'true'}}}}
  - {{id: after, needs: [each], uses: shell, with: {{script: 'true'}}}}
"""

# name, playbook, steps that fail without continue_on_error, expected start order
SCHEDULES = [
    ("file_order_breaks_ties", _steps(("b", ""), ("a", ""), ("c", "")), (), ["b", "a", "c"]),
    ("needs_before_file_order", _steps(("late", ", needs: [first]"), ("first", ""), ("other", "")), (),
     ["first", "other", "late"]),
    ("independent_steps_do_not_wait_for_others", _steps(("a", ""), ("b", ", needs: [a]"), ("c", "")), (),
     ["a", "c", "b"]),
    ("diamond_joins_once", _steps(("top", ""), ("l", ", needs: [top]"), ("r", ", needs: [top]"),
                                  ("join", ", needs: [l, r]")), (), ["top", "l", "r", "join"]),
    ("failure_holds_back_dependents", _steps(("a", ""), ("b", ", needs: [a]"), ("c", "")), ("a",), ["a", "c"]),
    ("for_each_serial_copies_in_item_order", FOR_EACH.format(serial="true"), (),
     ["each[c].one", "each[c].two", "each[a].one", "each[a].two", "each[b].one", "each[b].two", "after"]),
    ("for_each_parallel_copies_side_by_side", FOR_EACH.format(serial="false"), (),
     ["each[c].one", "each[a].one", "each[b].one", "each[c].two", "each[a].two", "each[b].two", "after"]),
]


@pytest.mark.parametrize("name,playbook,failing,expected", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_ready_steps_start_in_dependency_then_file_order(tmp_path, name, playbook, failing, expected):
    shape = plan_shape(_prepared(tmp_path, playbook).plan)
    assert _start_order(shape, failing) == expected


def test_a_step_made_ready_later_still_goes_before_ready_steps_further_down_the_file(tmp_path):
    schedule = Schedule(plan_shape(_prepared(tmp_path, _steps(("a", ""), ("b", ", needs: [a]"), ("c", ""))).plan))
    assert schedule.pop() == "a"
    schedule.release("a")  # c was ready first, but b is earlier in the file
    assert [schedule.pop(), schedule.pop()] == ["b", "c"]
    assert not schedule.has_ready()


def test_the_plan_shape_is_plain_data_the_workflow_can_hold(tmp_path):
    shape = plan_shape(_prepared(tmp_path, _steps(("a", ""), ("b", ", needs: [a], continue_on_error: true"))).plan)
    assert shape == {"a": {"order": 0, "successors": ["b"], "in_degree": 0, "continue_on_error": False,
                           "uses": "shell"},
                     "b": {"order": 1, "successors": [], "in_degree": 1, "continue_on_error": True, "uses": "shell"}}


def _no_prompt(prompt: str) -> bool | None:
    raise AssertionError(f"asked {prompt!r} though nothing should be asked")


def _answers(answer):
    def ask(prompt: str) -> bool | None:
        if isinstance(answer, type) and issubclass(answer, BaseException):
            raise answer()
        return answer
    return ask


# name, when, confirm, person's answer (None: nobody can answer; an exception: Ctrl-C/Ctrl-D), expected gate
GATES = [
    ("no_guard_runs", None, None, _no_prompt, Gate(RUN)),
    ("when_true_runs", "flag", None, _no_prompt, Gate(RUN)),
    ("when_false_skips_without_asking", "not flag", "Go?", _no_prompt, Gate(SKIP, "when: not flag")),
    ("yes_runs", None, "Go?", _answers(True), Gate(RUN)),
    ("no_skips", None, "Go?", _answers(False), Gate(SKIP, "declined: Go?")),
    ("nobody_to_ask_stops", None, "Go?", _answers(None), Gate(STOP, "needs confirmation: Go?")),
    ("ctrl_c_at_the_prompt_interrupts", None, "Go?", _answers(KeyboardInterrupt),
     Gate(INTERRUPTED, "interrupted at the prompt: Go?")),
    ("ctrl_d_at_the_prompt_interrupts", None, "Go?", _answers(EOFError),
     Gate(INTERRUPTED, "interrupted at the prompt: Go?")),
    ("prompt_rendering_empty_asks_nothing", None, "{{ 'Go?' if not flag else '' }}", _no_prompt, Gate(RUN)),
    ("prompt_is_rendered", None, "Deploy {{ 'now' if flag else 'later' }}?", _answers(None),
     Gate(STOP, "needs confirmation: Deploy now?")),
]


@pytest.mark.parametrize("name,when,confirm,ask,expected", GATES, ids=[g[0] for g in GATES])
def test_a_ready_step_is_gated_by_when_then_confirm(tmp_path, name, when, confirm, ask, expected):
    prepared = _prepared(tmp_path, "version: 1\ninputs: {flag: {type: boolean, default: true}}\n"
                                   "steps:\n  - {id: a, uses: shell, with: {script: 'true'}}\n")
    gate = decide_gate(when, confirm, prepared.scope(), renderer=prepared.renderer, ask=ask)
    assert gate == expected
    assert Gate.from_data(gate.as_data()) == gate  # travels through the workflow's history unchanged


def test_a_guard_that_cannot_be_evaluated_raises_for_the_caller_to_fail_the_step(tmp_path):
    prepared = _prepared(tmp_path, _steps(("a", "")))
    with pytest.raises(PlaybookError):
        decide_gate("no_such_input > 1", None, prepared.scope(), renderer=prepared.renderer, ask=_no_prompt)


GROUPS = """
version: 1
steps:
  - id: wave
    for_each: [x, y]
    when: "item != 'y'"
    steps:
      - {id: one, uses: shell, with: {script: 'true'}}
      - {id: two, uses: shell, with: {script: 'true'}}
"""


def test_a_group_copy_is_gated_once_for_all_its_steps_and_its_verdict_is_theirs(tmp_path):
    plan = _prepared(tmp_path, GROUPS).plan
    decided: dict[str, Gate] = {}
    asked: list[str] = []

    def frame_gate(frame):
        asked.append(frame.prefix)
        return Gate(RUN) if frame.locals["item"] != "y" else Gate(SKIP, "when: item != 'y'")

    gates = {key: gate_through_frames(node, decided, frame_gate, lambda: Gate(RUN, "own"))
             for key, node in plan.nodes.items()}
    assert asked == ["wave[x].", "wave[y]."]  # each copy once, however many steps it holds
    assert gates == {"wave[x].one": Gate(RUN, "own"), "wave[x].two": Gate(RUN, "own"),
                     "wave[y].one": Gate(SKIP, "when: item != 'y'"), "wave[y].two": Gate(SKIP, "when: item != 'y'")}
    # Decisions already taken (on Temporal: carried between activities) are not asked again.
    again: list[str] = []
    gate_through_frames(plan.nodes["wave[y].two"], dict(decided), lambda f: again.append(f.prefix) or Gate(RUN),
                        lambda: Gate(RUN))
    assert again == []


# name, budget, failed attempts so far, seconds since the until loop began (None: no until), expected wait
RETRIES = [
    ("no_retries_gives_up", Tries(None, 0, 1.0, 1.0, False), 1, None, None),
    ("first_retry_waits_delay", Tries(None, 3, 2.0, 3.0, False), 1, None, 2.0),
    ("backoff_multiplies_each_wait", Tries(None, 3, 2.0, 3.0, False), 3, None, 18.0),
    ("retries_used_up", Tries(None, 3, 2.0, 3.0, False), 4, None, None),
    ("until_tries_every_delay", Tries(10.0, 0, 2.0, 3.0, True), 5, 1.0, 2.0),
    ("until_stops_before_its_deadline", Tries(10.0, 0, 2.0, 1.0, True), 4, 8.5, None),
    ("until_with_retries_stops_when_they_run_out", Tries(100.0, 2, 1.0, 1.0, True), 3, 1.0, None),
]


@pytest.mark.parametrize("name,tries,attempts,elapsed,expected", RETRIES, ids=[r[0] for r in RETRIES])
def test_when_a_failed_step_tries_again(name, tries, attempts, elapsed, expected):
    start = 1000.0
    until_deadline = tries.until_deadline(start)
    now = start + (elapsed or 0.0)
    assert tries.next_wait(attempts, now, until_deadline) == expected


# name, budget, expected until deadline, expected attempt deadline for an attempt started at 1005
DEADLINES = [
    ("timeout_bounds_each_attempt", Tries(30.0, 0, 1.0, 1.0, False), None, 1035.0),
    ("no_timeout_no_deadline", Tries(None, 2, 1.0, 1.0, False), None, None),
    ("until_timeout_bounds_the_loop", Tries(30.0, 0, 1.0, 1.0, True), 1030.0, 1030.0),
    ("until_without_timeout_has_the_default", Tries(None, 0, 1.0, 1.0, True), 1000.0 + UNTIL_DEFAULT_TIMEOUT,
     1000.0 + UNTIL_DEFAULT_TIMEOUT),
]


@pytest.mark.parametrize("name,tries,until,attempt", DEADLINES, ids=[d[0] for d in DEADLINES])
def test_how_long_a_step_may_try(name, tries, until, attempt):
    assert tries.until_deadline(1000.0) == until
    assert tries.attempt_deadline(1005.0, tries.until_deadline(1000.0)) == attempt


def test_the_budget_is_read_from_the_step_as_written(tmp_path):
    plan = _prepared(tmp_path, _steps(("a", ", timeout: 40s, retries: 3, delay: 2s, backoff: 1.5"),
                                      ("b", ", until: 'true'"))).plan
    assert Tries.of(plan.nodes["a"].spec) == Tries(40.0, 3, 2.0, 1.5, False)
    assert Tries.of(plan.nodes["b"].spec).has_until


# name, step ok, continue_on_error, why the run stopped before, interrupted, expected (release, stop)
AFTER_STEP = [
    ("success_releases", True, False, None, False, (True, None)),
    ("failure_stops_the_run", False, False, None, False, (False, "failed")),
    ("failure_with_continue_on_error_releases", False, True, None, False, (True, None)),
    ("failure_while_interrupted_is_the_interrupt", False, False, None, True, (False, "interrupted")),
    ("the_first_reason_to_stop_is_kept", False, False, "failed", True, (False, "failed")),
    ("success_after_a_stop_keeps_it", True, False, "failed", False, (True, "failed")),
]


@pytest.mark.parametrize("name,ok,coe,stop,interrupted,expected", AFTER_STEP, ids=[a[0] for a in AFTER_STEP])
def test_what_a_step_end_means_for_the_run(name, ok, coe, stop, interrupted, expected):
    assert after_step(ok, coe, stop, interrupted=interrupted) == expected


@pytest.mark.parametrize("stop,no_rollback,expected", [
    (None, False, False), ("stopped", False, False), ("failed", False, True), ("interrupted", False, True),
    ("failed", True, False), ("interrupted", True, False)])
def test_which_runs_roll_back(stop, no_rollback, expected):
    assert rolls_back(stop, no_rollback) is expected


def test_a_step_started_again_is_undone_once_in_the_place_of_its_latest_start():
    started = ["a", "b", "c"]
    record_start(started, "b")
    record_start(started, "d")
    assert started == ["a", "c", "b", "d"]
    assert rollback_order(started) == ["d", "b", "c", "a"]


# name, start order, each step's rollback so far, expected steps still to undo (start order)
TO_UNDO = [
    ("nothing_rolled_back_yet", ["a", "b", "c"], {}, ["a", "b", "c"]),
    ("succeeded_compensations_are_done", ["a", "b", "c"], {"c": "succeeded", "b": "succeeded"}, ["a"]),
    ("failed_compensations_are_tried_again", ["a", "b"], {"a": "failed", "b": "succeeded"}, ["a"]),
    ("all_undone", ["a"], {"a": "succeeded"}, []),
]


@pytest.mark.parametrize("name,started,state,expected", TO_UNDO, ids=[t[0] for t in TO_UNDO])
def test_what_a_later_rollback_still_undoes(name, started, state, expected):
    assert to_undo(started, state) == expected


def test_a_rollback_on_its_own_exits_0_or_3():
    assert rollback_verdict(False) == (EXIT_OK, "rolled_back")
    assert rollback_verdict(True) == (EXIT_ROLLBACK_FAILED, "rollback_failed")

