"""Limits: rendering has a time and size budget, files are read up to a size limit whatever their kind, and
what steps print cannot drive the terminal it is shown on."""
from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from engine.render import Renderer, Scope
from engine.errors import TemplateError

from .conftest import pty_output

BUDGET_BUSTERS = [
    "{{ 'x' | center(10**9) }}",
    "{{ lipsum(10**5) }}",
    "{{ 'x' * 10**9 }}",
    "{{ [1] * 10**9 }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ '%999999999d' % 1 }}",
    "{{ '{:>999999999}'.format(1) }}",
    "{{ 'a' | indent(10**9) }}",
    "{{ [1] | batch(10**9, 'x') | list }}",
    "{{ 10 ** 100000000 }}",
    "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
    "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
    "{% for i in range(10**6) %}{% endfor %}",
]


@pytest.mark.parametrize("template", BUDGET_BUSTERS)
def test_a_template_that_would_grow_without_bound_is_stopped_by_the_budget(tmp_path, template):
    renderer = Renderer(tmp_path)
    with pytest.raises(TemplateError, match="allowed"):
        renderer.render(template, Scope(renderer, inputs={}, var_templates={}))


def test_a_render_stops_at_the_deadline_it_is_given(tmp_path):
    renderer = Renderer(tmp_path)
    scope = Scope(renderer, inputs={}, var_templates={})
    endless = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with renderer.budget(time.time() + 0.5), pytest.raises(TemplateError, match="out of time"):
        renderer.render(endless, scope)
    assert time.monotonic() - started < 5


def test_ordinary_templates_are_within_budget(tmp_path):
    renderer = Renderer(tmp_path)
    scope = Scope(renderer, inputs={"x": "abc", "n": 3}, var_templates={})
    assert renderer.render("{{ x ~ '-' ~ n }} {{ '%s-20261201' % x }} {{ x * 2 }} {{ '{:>5}'.format(n) }}",
                           scope) == "abc-3 abc-20261201 abcabc     3"
    assert len(renderer.render("{{ lipsum(3) }}", scope)) > 100


@pytest.mark.parametrize("template", ["{{ 'x' | center(10**9) }}", "{{ lipsum(10**5) }}"])
def test_a_step_whose_template_busts_the_budget_fails_instead_of_succeeding(project, runs_env, template):
    project.write("p.yaml", f"""
        version: 1
        steps:
          - id: big
            uses: shell
            timeout: 1s
            with: {{script: "echo {template} > out.txt"}}
        """)
    r = project.run("run", "p.yaml", "--yes", timeout=120)
    assert r.rc == 1, r.out + r.err
    assert "✘ big failed" in r.out and "allowed in " in r.out, r.out
    assert not project.path("out.txt").exists()


def test_a_steps_timeout_covers_rendering_its_arguments(project, runs_env):
    project.write("p.yaml", """
        version: 1
        steps:
          - id: slow
            uses: shell
            timeout: 1s
            with: {script: "echo {% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done > out.txt"}
        """)
    started = time.monotonic()
    r = project.run("run", "p.yaml", "--yes", timeout=120)
    elapsed = time.monotonic() - started
    assert r.rc == 1, r.out + r.err
    assert "✘ slow failed" in r.out and "out of time" in r.out, r.out
    assert not project.path("out.txt").exists()
    # Two renders (the description, then the attempt) share one clock: a 1 s budget, not 2 x the 10 s default.
    assert elapsed < 9, elapsed


def test_validate_reads_at_most_the_size_limit_of_dev_zero(project):
    r = project.run("validate", "/dev/zero", timeout=60)
    assert r.rc == 2 and r.err.startswith("error: /dev/zero: more than the ") and "Traceback" not in r.err, r.err


def test_a_fifo_fed_without_end_is_read_up_to_the_limit(project):
    fifo = project.path("p.yaml")
    os.mkfifo(fifo)
    stop = threading.Event()

    def feed() -> None:
        with open(fifo, "wb") as fh:
            try:
                while not stop.is_set():
                    fh.write(b"# a comment line that never ends the file\n" * 1024)
            except BrokenPipeError:
                pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        r = project.run("validate", "p.yaml", timeout=60)
    finally:
        stop.set()
    assert r.rc == 2 and "p.yaml: more than the " in r.err, r.err


def test_a_template_file_is_read_up_to_the_limit(project, runs_env):
    os.symlink("/dev/zero", project.path("t.j2"))
    project.write("p.yaml", """
        version: 1
        steps:
          - id: a
            uses: shell
            with: {script: "cat {{ template_file('t.j2') }}"}
        """)
    r = project.run("run", "p.yaml", "--yes", timeout=60)
    assert r.rc == 1 and "cannot read template file 't.j2': more than the " in r.out, r.out + r.err


# Shell lines that print a screen clear, a window title, a clipboard write (OSC 52), a bidi override and a bell.
HOSTILE = r"""
          printf 'clear\033[2J\033[Hpwn\n'
          printf 'title\033]0;owned\007\n'
          printf 'clip\033]52;c;aGk=\007\n'
          printf 'bidi \342\200\256dlrow\n'
          printf 'bell\007\n'"""


@pytest.mark.parametrize("fail", [False, True], ids=["streamed", "failed-stderr-tail"])
def test_control_sequences_from_step_output_are_shown_not_obeyed_on_a_terminal(project, runs_env, fail):
    script = HOSTILE + ("\n          printf 'err\\033]52;c;aGk=\\007\\n' >&2; exit 1" if fail else "")
    project.path("p.yaml").write_text("version: 1\nsteps:\n  - id: noisy\n    uses: shell\n    with:\n"
                                      "      script: |" + script + "\n")
    rc, live = pty_output([sys.executable, "-m", "engine.cli", "run", "p.yaml", "-v"], project.root, stderr_too=True,
                          env={"COLUMNS": "120"})
    assert rc == (1 if fail else 0), live
    for obeyed in ("\x1b[2J", "\x1b]0;", "\x1b]52;", "\u202e", "\x07"):
        assert obeyed not in live, (obeyed, live)
    assert "\\x1b]52;c;aGk=\\x07" in live and "\\u202edlrow" in live, live
    plain = project.run("show", "last")  # the journal keeps the bytes; `show` prints them neutralised
    assert "\x1b" not in plain.out and "\u202e" not in plain.out
