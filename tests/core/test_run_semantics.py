"""What a run does: rollback order and exit codes, parallel waves, serial for_each, guards, retries, injection."""
from __future__ import annotations

import json
import time


def _five_steps(fail_at: int, *, failing_rollback: int | None = None) -> str:
    """Five chained steps; each appends 'do N' to `log` and its rollback appends 'undo N'."""
    steps = []
    for n in range(1, 6):
        cmd = "exit 1" if n == fail_at else f"echo do {n} >> log"
        undo = f"echo undo {n} >> log" + ("; exit 7" if n == failing_rollback else "")
        needs = f"    needs: [s{n - 1}]\n" if n > 1 else ""
        steps.append(f"  - id: s{n}\n{needs}    uses: shell\n    with: {{script: '{cmd}'}}\n"
                     f"    rollback: {{uses: shell, with: {{script: '{undo}'}}}}\n")
    return "version: 1\nsteps:\n" + "".join(steps)


def test_third_of_five_fails_rolls_back_3_2_1_in_order_exit_1(project):
    project.write("p.yaml", _five_steps(fail_at=3))
    result = project.run("run", "p.yaml")
    assert result.rc == 1, result.out
    assert project.path("log").read_text().split("\n")[:-1] == ["do 1", "do 2", "undo 3", "undo 2", "undo 1"]
    assert "run failed at s3; rollback completed (exit 1)" in result.out


def test_failing_rollback_gives_exit_3_and_the_other_rollbacks_still_run(project):
    project.write("p.yaml", _five_steps(fail_at=3, failing_rollback=2))
    result = project.run("run", "p.yaml")
    assert result.rc == 3, result.out
    assert project.path("log").read_text().split("\n")[:-1] == ["do 1", "do 2", "undo 3", "undo 2", "undo 1"]
    assert "rollback FAILED for s2" in result.out


def test_no_rollback_leaves_everything_done(project):
    project.write("p.yaml", _five_steps(fail_at=3))
    result = project.run("run", "p.yaml", "--no-rollback")
    assert result.rc == 1
    assert project.path("log").read_text().split("\n")[:-1] == ["do 1", "do 2"]
    assert "rollback skipped (--no-rollback)" in result.out


SLEEPERS = """
version: 1
steps:
""" + "".join(f"  - {{id: z{i}, uses: command, with: {{args: [sleep, '0.5']}}}}\n" for i in range(4))


def _step_span(result) -> float:
    """Seconds from the first step's start to the last step's end, from the run's own events."""
    events = [json.loads(line) for line in result.out.splitlines()]
    starts = [e["time"] for e in events if e["event"] == "step_started"]
    ends = [e["time"] for e in events if e["event"] == "step_succeeded"]
    assert len(starts) == len(ends) == 4
    return max(ends) - min(starts)


def test_independent_steps_overlap_in_parallel(project):
    project.write("p.yaml", SLEEPERS)
    result = project.run("run", "p.yaml", "--max-parallel", "4", "--output", "json")
    assert result.rc == 0
    # Serial would be 2.0 s of sleeping alone.
    assert _step_span(result) < 1.2


def test_max_parallel_1_serialises(project):
    project.write("p.yaml", SLEEPERS)
    result = project.run("run", "p.yaml", "--max-parallel", "1", "--output", "json")
    assert result.rc == 0
    assert _step_span(result) >= 2.0


def test_serial_for_each_keeps_list_order(project):
    project.write("p.yaml", """
        version: 1
        inputs: {items: {type: array, default: [c, a, d, b, e, f]}}
        steps:
          - id: each
            for_each: "{{ items }}"
            serial: true
            steps:
              - {id: jitter, uses: command, with: {args: [sleep, "{{ 0.05 * (6 - loop_index) }}"]}}
              - {id: note, needs: [jitter], uses: shell, with: {script: "echo {{ item }} >> order"}}
    """)
    result = project.run("run", "p.yaml", "--max-parallel", "8")
    assert result.rc == 0, result.out
    assert project.path("order").read_text().split() == ["c", "a", "d", "b", "e", "f"]


def test_group_need_waits_for_every_copy(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - id: each
            for_each: [1, 2, 3]
            steps:
              - {id: work, uses: shell, with: {script: "sleep 0.{{ item }}; echo {{ item }} >> order"}}
          - {id: after, needs: [each], uses: shell, with: {script: "echo done >> order"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0
    assert project.path("order").read_text().split()[-1] == "done"
    assert sorted(project.path("order").read_text().split()[:3]) == ["1", "2", "3"]


def test_var_values_are_literal_data_never_shell_or_template(project):
    project.write("p.yaml", """
        version: 1
        inputs: {rev: {type: string}}
        steps:
          - {id: show, uses: command, with: {args: [python3, -c, "import sys; open('got', 'w').write(sys.argv[1])", "{{ rev }}"]}}
          - {id: echo, needs: [show], uses: echo, with: {msg: "rev is {{ rev }}"}}
    """)
    for value in ("1; touch pwned", "{{ 7*7 }}", "$(touch pwned)", "{% raw %}x"):
        result = project.run("run", "p.yaml", "--var", f"rev={value}")
        assert result.rc == 0, result.err
        assert project.path("got").read_text() == value
        assert f"rev is {value}" in result.out
        assert not project.path("pwned").exists()
    assert "49" not in project.path("got").read_text()


def test_skipped_step_counts_as_met_and_its_dependents_run(project):
    project.write("p.yaml", """
        version: 1
        inputs: {promote: {type: boolean, default: false}}
        steps:
          - {id: a, when: promote, uses: shell, with: {script: "touch a"}}
          - {id: b, needs: [a], uses: shell, with: {script: "touch b"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0
    assert not project.path("a").exists() and project.path("b").exists()
    assert "↷ a skipped (when: promote)" in result.out


def test_retries_with_delay_until_success(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - id: flaky
            uses: shell
            retries: 3
            delay: 0.1s
            with: {script: "echo x >> tries; test $(wc -l < tries) -ge 3"}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0, result.out
    assert len(project.path("tries").read_text().split()) == 3
    assert result.out.count("↻ flaky attempt") == 2


def test_until_repeats_until_the_expression_holds(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - id: poll
            uses: shell
            until: "steps.poll.stdout | int >= 3"
            delay: 0.05s
            timeout: 10s
            with: {script: "echo x >> n; wc -l < n"}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0, result.out
    assert len(project.path("n").read_text().split()) == 3


def test_until_gives_up_at_the_timeout(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: poll, uses: shell, until: "false", delay: 0.1s, timeout: 0.5s, with: {script: "true"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 1
    assert "until (false) still false after" in result.out


def test_step_timeout_fails_the_step(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: slow, uses: command, timeout: 0.3s, with: {args: [sleep, "30"]}}
    """)
    start = time.monotonic()
    result = project.run("run", "p.yaml")
    assert result.rc == 1
    assert time.monotonic() - start < 10
    assert "timed out" in result.out


def test_continue_on_error_lets_the_run_succeed(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: optional, uses: command, continue_on_error: true, with: {args: ["false"]}}
          - {id: next, needs: [optional], uses: shell, with: {script: "touch next"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 0
    assert project.path("next").exists()
    assert "continuing (continue_on_error)" in result.out


def test_confirmation_without_terminal_or_yes_stops_cleanly_before_the_step(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: first, uses: shell, with: {script: "touch first"}, rollback: {uses: shell, with: {script: "rm first"}}}
          - {id: point-of-no-return, needs: [first], confirm: "Switch the default tag?", uses: shell, with: {script: "touch tag"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 4, result.out
    assert project.path("first").exists() and not project.path("tag").exists()
    assert "stopped before point-of-no-return: needs confirmation: Switch the default tag?" in result.out
    assert project.run("run", "p.yaml", "--yes").rc == 0
    assert project.path("tag").exists()


def test_step_results_feed_later_templates(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: produce, uses: command, with: {args: [echo, '{"pods": ["a", "b"]}']}}
          - id: consume
            needs: [produce]
            uses: shell
            with: {script: "echo {{ steps.produce.json.pods | length }} {{ steps.produce.status }} > out"}
    """)
    assert project.run("run", "p.yaml").rc == 0
    assert project.path("out").read_text().strip() == "2 succeeded"


def test_secret_inputs_are_masked_in_output(project):
    project.write("p.yaml", """
        version: 1
        inputs: {token: {type: string, secret: true}}
        steps:
          - {id: use, uses: command, with: {args: [echo, "token={{ token }}"]}}
    """)
    result = project.run("run", "p.yaml", "--var", "token=s3cr3t-value", "-v")
    assert result.rc == 0
    assert "s3cr3t-value" not in result.out and "token=***" in result.out
    dry = project.run("run", "p.yaml", "--var", "token=s3cr3t-value", "--dry-run")
    assert "s3cr3t-value" not in dry.out


def test_template_file_renders_relative_to_the_playbook(project):
    project.write("pb/templates/cm.yaml.j2", "name: cm-{{ rev }}\nreplicas: {{ replicas }}\n")
    project.write("pb/p.yaml", """
        version: 1
        inputs: {rev: {type: string}, replicas: {type: integer, default: 2}}
        steps:
          - {id: copy, uses: command, with: {args: [cp, "{{ template_file('templates/cm.yaml.j2') }}", rendered.yaml]}}
    """)
    result = project.run("run", "pb/p.yaml", "--var", "rev=1-20-0")
    assert result.rc == 0, result.out + result.err
    assert project.path("rendered.yaml").read_text() == "name: cm-1-20-0\nreplicas: 2\n"


def test_json_output_is_one_event_per_line(project):
    project.write("p.yaml", _five_steps(fail_at=2))
    result = project.run("run", "p.yaml", "--output", "json")
    events = [json.loads(line) for line in result.out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert [e["step"] for e in events if e["event"] == "rollback_succeeded"] == ["s2", "s1"]
    assert events[-1]["exit_code"] == 1
