"""`validate` finds misspelt step ids and undefined names with did-you-mean, reports every problem of a file
at once (not stage by stage), and checks shipped playbooks without their required inputs, naming them."""
from __future__ import annotations

from pathlib import Path

import pytest

PLAYBOOKS = Path(__file__).resolve().parents[2] / "playbooks"

MISTAKES = """
version: 1
inputs:
  rev: {type: string}
  replicas: {type: integer, default: 2}
vars:
  ns: "istio-{{ rev }}"
steps:
  - id: one
    name: "first {{ revv }}"
    uses: shell
    with: {script: "echo {{ rev }}"}
  - id: two
    needs: [one]
    uses: shell
    with: {script: "echo {{ steps.oen.stdout }} {{ steps['one'].stdout }} {{ nss }}"}
  - id: three
    needs: [two, fuor]
    when: "steps.tow.rc == 0"
    uses: echo
    with: {msg: "{{ item }}"}
  - id: group
    needs: [one]
    steps:
      - {id: inner, uses: echo, with: {msg: "{{ steps.one.stdout }}"}}
  - id: after
    needs: [group]
    uses: echo
    with: {msg: "{{ steps.inner.stdout }} {{ steps.group.steps.inner.stdout }}"}
"""


@pytest.mark.parametrize("needle", [
    "p.yaml:9: step 'one': name uses 'revv', which is not an input, var or helper (did you mean 'rev'?)",
    "p.yaml:15: step 'two': with.script uses 'nss', which is not an input, var or helper (did you mean 'ns'?)",
    "p.yaml:15: step 'two': with.script reads steps.oen, but there is no step 'oen' (did you mean 'one'?)",
    "p.yaml:18: step 'three': when reads steps.tow, but there is no step 'tow' (did you mean 'two'?)",
    "p.yaml:20: step 'three': with.msg uses 'item', which exists only inside a for_each",
    "step 'three': needs unknown step 'fuor'",
    "step 'after': with.msg reads steps.inner, which is inside another group and not visible here",
    "input 'replicas' = 'many': must be of type integer",
])
def test_validate_reports_every_problem_of_the_file_at_once(project, needle):
    project.write("p.yaml", MISTAKES)
    result = project.run("validate", "p.yaml", "--var", "replicas=many")
    assert result.rc == 2
    assert needle in result.err, result.err
    assert len(result.err.splitlines()) == 8, result.err


def test_a_misspelt_step_id_also_stops_a_run_before_anything_runs(project):
    project.write("p.yaml", """
        version: 1
        steps:
          - {id: one, uses: shell, with: {script: "touch ran"}}
          - {id: two, needs: [one], uses: echo, with: {msg: "{{ steps.oen.stdout }}"}}
    """)
    result = project.run("run", "p.yaml")
    assert result.rc == 2 and "no step 'oen' (did you mean 'one'?)" in result.err
    assert not project.path("ran").exists()


def test_steps_read_through_their_group_and_inside_loops_are_fine(project):
    project.write("p.yaml", """
        version: 1
        inputs: {namespaces: {type: array, default: [a, b]}}
        steps:
          - {id: first, uses: echo, with: {msg: hi}}
          - id: migrate
            needs: [first]
            for_each: "{{ namespaces }}"
            steps:
              - {id: label, uses: echo, with: {msg: "{{ item }} after {{ steps.first.stdout }}"}}
              - {id: check, needs: [label], uses: assert, with: {that: "steps.label.rc is none"}}
          - {id: last, needs: [migrate], uses: echo, with: {msg: "{{ steps.migrate.status }}"}}
    """)
    result = project.run("validate", "p.yaml")
    assert result.rc == 0, result.err


@pytest.mark.parametrize("playbook, lacking", [
    ("canary-upgrade.yaml", "rev"),
    ("migrate-namespaces.yaml", "rev, namespaces_to_move"),
    ("remove-old-control-plane.yaml", "rev"),
    ("rollback-upgrade.yaml", "rev"),
])
def test_shipped_playbooks_validate_without_their_required_inputs_and_say_which_they_lacked(project, playbook,
                                                                                           lacking):
    result = project.run("validate", str(PLAYBOOKS / playbook))
    assert result.rc == 0, result.err
    lines = result.out.splitlines()
    assert " valid — " in lines[0]
    assert lines[1].startswith(f"  without {lacking} (required, not given): checked everything that does not")


def test_without_a_required_input_the_other_problems_are_still_found(project):
    project.write("p.yaml", """
        version: 1
        inputs: {rev: {type: string}}
        steps:
          - {id: install, uses: shell, with: {script: "install {{ rev }}"}}
          - {id: check, needs: [instal], uses: echo, with: {msg: "{{ steps.instal.stdout }}"}}
    """)
    result = project.run("validate", "p.yaml")
    assert result.rc == 2
    assert "needs unknown step 'instal'" in result.err and "no step 'instal' (did you mean 'install'?)" in result.err
    assert "input 'rev' is required" not in result.err


CLUSTER_LOOP = """
    version: 1
    inputs: {rev: {type: string, default: 1-20-0}}
    steps:
      - id: move
        for_each: "{{ planned_moves(rev) | selectattr('move', 'eq', 'rollout-restart') | list }}"
        steps:
          - {id: restart, uses: echo, with: {msg: "restart {{ item.ref }}"}}
      - id: batches
        for_each: "{{ paced(['a', 'b', 'c'], 1, 10) }}"
        steps:
          - {id: go, uses: echo, with: {msg: "{{ item.namespaces | join(',') }}"}}
"""


@pytest.fixture
def counting_cluster(tmp_path):
    """A kubeconfig whose API server is a loopback socket that counts the connections made to it."""
    import socket
    import threading
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    seen = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (socket.timeout, OSError):
                continue
            seen.append(1)
            conn.close()
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{server.getsockname()[1]}'}}}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {token: t}}]\n")
    yield kubeconfig, seen
    stop.set()
    thread.join(timeout=5)
    server.close()


def test_validate_plans_a_loop_over_a_cluster_look_up_as_one_placeholder_copy_without_asking_the_cluster(
        project, counting_cluster):
    """What a cluster look-up returns is known only at run time: validate neither connects nor loads the
    client; a look-up that only computes (`paced`) is still expanded."""
    kubeconfig, seen = counting_cluster
    project.write("p.yaml", CLUSTER_LOOP)
    result = project.run("validate", "p.yaml", env={"KUBECONFIG": str(kubeconfig)})
    assert result.rc == 0, result.err
    assert "valid — 4 steps" in result.out  # one placeholder copy of `move`, three batches
    assert seen == []
    planned = project.run("run", "p.yaml", "--dry-run", "--kubeconfig", str(kubeconfig))
    assert planned.rc == 0, planned.err
    assert seen, "the dry run plans against the cluster (the socket counts connections)"


def test_validate_still_finds_a_mistake_inside_a_loop_over_a_cluster_look_up(project):
    project.write("p.yaml", CLUSTER_LOOP.replace("restart {{ item.ref }}", "restart {{ item.ref }} {{ revv }}"))
    result = project.run("validate", "p.yaml")
    assert result.rc == 2
    assert "step 'restart': with.msg uses 'revv', which is not an input, var or helper (did you mean 'rev'?)" \
        in result.err, result.err
