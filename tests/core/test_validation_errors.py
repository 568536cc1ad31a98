"""Every kind of invalid playbook or input: exit 2, a located message saying how to mend it, and nothing ran."""
from __future__ import annotations

import pytest

# Each playbook's first step would create the file `ran`; an invalid playbook must not get that far.
TOUCH = """
  - id: touch
    uses: command
    with: {args: [touch, ran]}
"""

CASES = [
    ("yaml syntax",
     "version: 1\nsteps: [\n", [], "p.yaml:3: invalid YAML: while parsing a flow node"),
    ("duplicate yaml key",
     "version: 1\nversion: 1\nsteps:" + TOUCH, [], "p.yaml:2: invalid YAML: while constructing a mapping found duplicate key 'version'"),
    ("not a mapping",
     "- just\n- a list\n", [], "a playbook is a YAML mapping"),
    ("missing version",
     "steps:" + TOUCH, [], "'version' is a required property (add the missing key)"),
    ("wrong version",
     "version: 2\nsteps:" + TOUCH, [], "version: 1 was expected (set it to 1)"),
    ("unknown top-level key",
     "version: 1\nstepz: []\nsteps:" + TOUCH, [], "unknown key 'stepz' (did you mean 'steps'?"),
    ("unknown step key with suggestion",
     "version: 1\nsteps:" + TOUCH + "    need: [x]\n", [], "p.yaml:6: step 'touch': steps[0]: unknown key 'need' (did you mean 'needs'?"),
    ("bad step id",
     "version: 1\nsteps:\n  - id: Bad_Id\n    uses: echo\n    with: {msg: hi}\n" + TOUCH, [], "steps[0].id: 'Bad_Id' does not match"),
    ("step without uses or steps",
     "version: 1\nsteps:" + TOUCH + "  - id: empty\n", [], "step 'empty': steps[1]: a step needs `uses` (a plugin) or `steps` (a group)"),
    ("group with uses",
     "version: 1\nsteps:" + TOUCH + "  - id: g\n    uses: echo\n    steps:\n      - {id: a, uses: echo, with: {msg: x}}\n", [],
     "a step has either `uses` (a plugin) or `steps` (a group), not both"),
    ("bad duration",
     "version: 1\nsteps:" + TOUCH + "    timeout: 5 minutes\n", [], "p.yaml:6: step 'touch': steps[0].timeout: '5 minutes' is not a duration (write e.g. 30s, 5m, 1h30m"),
    ("unknown plugin",
     "version: 1\nsteps:" + TOUCH + "  - id: x\n    uses: kubectll\n    with: {args: [get]}\n", [], "p.yaml:7: step 'x': unknown plugin 'kubectll'"),
    ("wrong plugin argument",
     "version: 1\nsteps:" + TOUCH + "  - id: x\n    uses: command\n    with: {argv: [ls]}\n", [], "step 'x': command: with: unknown key 'argv' (did you mean 'args'?"),
    ("plugin argument of wrong type",
     "version: 1\nsteps:" + TOUCH + "  - id: x\n    uses: wait\n    with: {duration: [1]}\n", [], "step 'x': wait: with.duration"),
    ("wrong rollback argument",
     "version: 1\nsteps:" + TOUCH + "    rollback: {uses: echo, with: {message: x}}\n", [], "step 'touch': echo: rollback.with: unknown key 'message'"),
    ("unknown need",
     "version: 1\nsteps:" + TOUCH + "  - id: b\n    needs: [tuch]\n    uses: echo\n    with: {msg: x}\n", [],
     "p.yaml:7: step 'b': needs unknown step 'tuch' (did you mean 'touch'?)"),
    ("duplicate id",
     "version: 1\nsteps:" + TOUCH + TOUCH, [], "p.yaml:7: step 'touch': duplicate step id 'touch' (first on line 3)"),
    ("cycle",
     "version: 1\nsteps:" + TOUCH + "  - {id: a, needs: [b], uses: echo, with: {msg: x}}\n  - {id: b, needs: [a], uses: echo, with: {msg: x}}\n", [],
     "needs form a cycle: a -> b -> a"),
    ("self need",
     "version: 1\nsteps:" + TOUCH + "  - {id: a, needs: [a], uses: echo, with: {msg: x}}\n", [], "step 'a': a step cannot need itself"),
    ("need across group boundary",
     "version: 1\nsteps:" + TOUCH + "  - id: g\n    steps:\n      - {id: a, needs: [touch], uses: echo, with: {msg: x}}\n", [],
     "needs unknown step 'touch' in group 'g' (inside a group, needs name sibling steps"),
    ("template syntax error",
     "version: 1\nsteps:" + TOUCH + "  - {id: a, uses: echo, with: {msg: '{{ oops'}}\n", [], "step 'a': with.msg: template syntax error"),
    ("undefined template name",
     "version: 1\nsteps:" + TOUCH + "  - {id: a, uses: echo, with: {msg: '{{ revision }}'}}\n", [],
     "step 'a': with.msg uses 'revision', which is not an input, var or helper"),
    ("guard syntax error",
     "version: 1\nsteps:" + TOUCH + "    when: 'a ==='\n", [], "step 'touch': when: expression syntax error"),
    ("for_each not a list",
     "version: 1\ninputs: {n: {type: integer, default: 3}}\nsteps:" + TOUCH + "    for_each: '{{ n }}'\n", [], "for_each must give a list, got int 3"),
    ("for_each on step results",
     "version: 1\nsteps:" + TOUCH + "  - {id: a, for_each: '{{ steps.touch.json }}', uses: echo, with: {msg: x}}\n", [],
     "for_each can use inputs, vars, item and cluster look-ups, not step results"),
    ("missing required inputs listed at once",
     "version: 1\ninputs:\n  rev: {type: string, required: true}\n  zone: {type: string, required: true}\nsteps:" + TOUCH, [],
     "input 'rev' is required"),
    ("ill-typed input",
     "version: 1\ninputs: {replicas: {type: integer}}\nsteps:" + TOUCH, ["--var", "replicas=two"], "input 'replicas' = 'two': must be of type integer"),
    ("input not matching pattern",
     "version: 1\ninputs: {rev: {type: string, pattern: '^[a-z0-9-]+$'}}\nsteps:" + TOUCH, ["--var", "rev=1.20; rm -rf /"],
     "must match ^[a-z0-9-]+$"),
    ("input not in enum",
     "version: 1\ninputs: {method: {type: string, enum: [istioctl, helm]}}\nsteps:" + TOUCH, ["--var", "method=kustomize"],
     "must be one of 'istioctl', 'helm'"),
    ("misspelt input",
     "version: 1\ninputs: {rev: {type: string, default: x}}\nsteps:" + TOUCH, ["--var", "revv=1"], "--var 'revv' is not an input of this playbook (did you mean 'rev'?)"),
    ("var that is not KEY=VALUE",
     "version: 1\nsteps:" + TOUCH, ["--var", "rev"], "--var 'rev' is not KEY=VALUE"),
    ("vars that form a cycle",
     "version: 1\nvars: {a: '{{ b }}', b: '{{ a }}'}\nsteps:" + TOUCH + "    when: a\n", [], "vars refer to each other in a cycle"),
]


@pytest.mark.parametrize("name,text,extra,expected", CASES, ids=[c[0] for c in CASES])
def test_invalid_playbook_exits_2_with_located_message_and_runs_nothing(project, name, text, extra, expected):
    project.write("p.yaml", text)
    result = project.run("run", "p.yaml", *extra)
    assert result.rc == 2, (result.out, result.err)
    assert expected in result.err, result.err
    assert "Traceback" not in result.err
    assert not project.path("ran").exists()


def test_all_missing_inputs_are_listed_at_once(project):
    project.write("p.yaml", "version: 1\ninputs:\n  rev: {type: string, required: true}\n"
                            "  zone: {type: string, required: true}\nsteps:" + TOUCH)
    # `validate` checks without them (tests/ux/test_validate.py); a command that needs their values lists them.
    result = project.run("run", "p.yaml", "--dry-run")
    assert result.rc == 2
    assert "input 'rev' is required" in result.err and "input 'zone' is required" in result.err


def test_validate_and_graph_refuse_the_same_errors(project):
    project.write("p.yaml", "version: 1\nsteps:" + TOUCH + "  - {id: b, needs: [nope], uses: echo, with: {msg: x}}\n")
    for command in ("validate", "graph"):
        result = project.run(command, "p.yaml")
        assert result.rc == 2 and "needs unknown step 'nope'" in result.err


def test_billion_laughs_is_refused_quickly(project):
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    project.write("p.yaml", "\n".join(lines) + "\nversion: 1\nsteps:" + TOUCH)
    result = project.run("run", "p.yaml", timeout=10)
    assert result.rc == 2
    assert "aliases expand to" in result.err and "more than the 500000 allowed" in result.err


def test_oversized_file_is_refused_before_parsing(project):
    project.write("p.yaml", "version: 1\n# " + "x" * (5 * 1024 * 1024) + "\nsteps:" + TOUCH)
    result = project.run("validate", "p.yaml")
    assert result.rc == 2 and "more than the" in result.err


def test_missing_file_is_a_one_line_error(project):
    result = project.run("run", "nope.yaml")
    assert result.rc == 2
    assert result.err.strip() == "error: nope.yaml: no such file"
