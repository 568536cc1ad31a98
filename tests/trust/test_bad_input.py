"""Bad input never crashes: a table of playbooks, `--var`s, vars files, cluster files and journal records that
must each give exit 2, one located `error:` line (file:line, the input's name or the run), no traceback, and
run nothing (the playbook's one step would create `ran`; no run directory appears, no journal line is added).
"""
from __future__ import annotations

import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from .conftest import fork_cli

BASE = """version: 1
name: corpus
inputs:
  ns: {type: string, default: default}
  count: {type: integer, default: 1}
  mode: {type: string, enum: [fast, slow], default: fast}
steps:
  - id: mark
    uses: shell
    with: {script: "touch ran"}
"""


def with_step(step: str, inputs: str = "") -> str:
    """BASE with `inputs` lines added and one more step (YAML text indented as a list item)."""
    text = BASE.replace("steps:\n", inputs + "steps:\n") if inputs else BASE
    return text + step


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    where: str  # what the one error line must name: file:line, an input, a run
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None


def run_case(*args: str, where: str, playbook: str | bytes = BASE, extra: dict | None = None, setup=None,
             id: str) -> Case:
    files = {"p.yaml": playbook, **(extra or {})}
    return Case(id=id, args=("run", *args, "--yes"), where=where, files=files, setup=setup)


CASES: list[Case] = []

# -- control characters in YAML (each C0 but tab/newline/CR, DEL, C1): file:line ---------------------------
for code in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x80, 0x9B, 0x9F]:
    CASES.append(run_case("p.yaml", playbook=BASE.replace("name: corpus", f"name: cor{chr(code)}pus"),
                          where="p.yaml:2: control character", id=f"yaml-control-U+{code:04X}"))
CASES.append(run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "ns: a\x1bb\n"},
                      where="v.yaml:1: control character", id="vars-file-escape"))
CASES.append(run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "count: 1\nns: a\x00b\n"},
                      where="v.yaml:2: control character", id="vars-file-nul"))

# -- files of every kind, read up to the size limit ---------------------------------------------------------


def _endless_fifo(name: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / name
        os.mkfifo(path)

        def feed() -> None:
            try:
                with open(path, "wb") as fh:
                    while True:
                        fh.write(b"# more\n" * 4096)
            except OSError:
                pass
        threading.Thread(target=feed, daemon=True).start()
    return setup


def _symlink(name: str, target: str) -> Callable[[Path], None]:
    return lambda root: os.symlink(target, root / name)


CASES += [
    Case("playbook-dev-zero", ("run", "/dev/zero", "--yes"), "/dev/zero: more than the"),
    Case("playbook-fifo-endless", ("run", "f.yaml", "--yes"), "f.yaml: more than the", setup=_endless_fifo("f.yaml")),
    Case("playbook-symlink-to-dev-zero", ("validate", "z.yaml"), "z.yaml: more than the",
         setup=_symlink("z.yaml", "/dev/zero")),
    run_case("p.yaml", playbook=BASE + "#" + "x" * (5 * 1024 * 1024) + "\n", where="p.yaml: more than the",
             id="playbook-5MB"),
    Case("playbook-is-a-directory", ("run", "d", "--yes"), "'d' is a directory", files={"d/x": ""}),
    Case("playbook-missing", ("run", "missing.yaml", "--yes"), "missing.yaml: no such file"),
    run_case("p.yaml", playbook=b"version: 1\nname: \xff\xfe\n", where="p.yaml: not UTF-8", id="playbook-not-utf8"),
    run_case("p.yaml", playbook="", where="p.yaml: the file is empty", id="playbook-empty"),
    run_case("p.yaml", playbook="- a\n- b\n", where="p.yaml:1: a playbook is a YAML mapping", id="playbook-a-list"),
    run_case("p.yaml", playbook="version: 1\nsteps: [\n", where="p.yaml:3: invalid YAML", id="playbook-unclosed"),
    run_case("p.yaml", playbook=BASE.replace("name: corpus", "name: corpus\nname: again"),
             where="p.yaml:3: invalid YAML", id="playbook-duplicate-key"),
    run_case("p.yaml", playbook=BASE.replace("  - id: mark", "\t- id: mark"), where="p.yaml:8: invalid YAML",
             id="playbook-tab-indent"),
    run_case("p.yaml", playbook=BASE + "x: &a [1,1,1,1,1,1,1,1,1,1]\n" + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, c in zip("abcdefg", "bcdefgh")),
        where="p.yaml:1: aliases expand to", id="playbook-alias-bomb"),
    run_case("p.yaml", playbook=BASE + "x: " + "[" * 150 + "]" * 150 + "\n", where="p.yaml:11: collections nest",
             id="playbook-nested-150"),
    run_case("p.yaml", playbook=BASE + "x: " + "[" * 5000 + "]" * 5000 + "\n", where="p.yaml: YAML nesting",
             id="playbook-nested-5000"),
    Case("template-file-dev-zero", ("validate", "p.yaml"), "p.yaml:", files={"p.yaml": BASE.replace(
        'vars: {}', '') + "vars:\n  t: \"{{ template('z.j2') }}\"\n" + "  u: \"{{ 1 + }}\"\n"}),
]

# -- the format: durations, names YAML read as booleans, NUL, quoting, lengths ------------------------------
STEP = "  - id: extra\n    uses: echo\n    with: {{msg: x}}\n{}"
for key, value, line in [("timeout", ".nan", 14), ("timeout", ".inf", 14), ("timeout", "-.inf", 14),
                         ("timeout", "1.0e400", 14), ("timeout", "nan", 14), ("timeout", "99999999h", 14),
                         ("delay", "1.0e308", 14), ("delay", ".nan", 14), ("delay", "400d", 14)]:
    CASES.append(run_case("p.yaml", playbook=with_step(STEP.format(f"    {key}: {value}\n")),
                          where=f"p.yaml:{line}: step 'extra'", id=f"step-{key}-{value}"))
CASES += [
    run_case("p.yaml", playbook=BASE.replace("steps:", "defaults: {timeout: .nan}\nsteps:"),
             where="p.yaml:7: timeout", id="defaults-timeout-nan"),
    run_case("p.yaml", playbook=BASE.replace("steps:", "defaults: {delay: .inf}\nsteps:"),
             where="p.yaml:7: delay", id="defaults-delay-inf"),
    run_case("p.yaml", playbook=with_step(STEP.format("    rollback: {uses: echo, timeout: .inf, with: {msg: x}}\n")),
             where="p.yaml:14: step 'extra': timeout", id="rollback-timeout-inf"),
    run_case("p.yaml", playbook=with_step(STEP.format("    retries: 3\n    backoff: .inf\n")),
             where="p.yaml:15: step 'extra': backoff", id="backoff-inf"),
    run_case("p.yaml", playbook=with_step(STEP.format("    retries: 60\n    backoff: 2\n")),
             where="p.yaml:15: step 'extra': backoff", id="backoff-overflows"),
    run_case("p.yaml", playbook=with_step(STEP.format("    retries: 5\n    delay: 300d\n    backoff: 10\n")),
             where="p.yaml:16: step 'extra': backoff", id="delay-times-backoff-overflows"),
    run_case("p.yaml", playbook=with_step(STEP.replace("extra", "x" * 101).format("")),
             where="p.yaml:11: step 'xxxx", id="id-too-long-for-a-file-name"),
]
for word in ("on", "off", "yes", "no", "true", "false"):
    CASES.append(run_case("p.yaml", playbook=with_step(STEP.replace("id: extra", f"id: {word}").format("")),
                          where="p.yaml:11:", id=f"id-{word}-read-as-boolean"))
CASES += [
    run_case("p.yaml", playbook=with_step(STEP.replace("uses: echo", "uses: on").format("")),
             where="p.yaml:12: step 'extra'", id="uses-on"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: echo\n    with: {msg: x, yes: x}\n"),
             where="p.yaml:13: step 'extra'", id="with-key-yes"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: kubectl\n    with: {args: [get, ns], namespace: no}\n"),
             where="p.yaml:13: step 'extra'", id="namespace-no"),
    run_case("p.yaml", playbook=BASE.replace("  ns: {type: string, default: default}", "  on: {type: string}"),
             where="p.yaml:3: inputs", id="input-named-on"),
    run_case("p.yaml", playbook=BASE.replace("enum: [fast, slow], default: fast", "enum: [on, off], default: on"),
             where="p.yaml:6: input 'mode'", id="input-enum-on-off"),
    run_case("p.yaml", playbook=BASE.replace("{type: string, default: default}", "{type: string, default: no}"),
             where="p.yaml:4: input 'ns'", id="input-default-no"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: command\n    with: {args: [echo, \"a\\0b\"]}\n"),
             where="p.yaml:13: step 'extra': steps[1].with.args[1]: a NUL", id="nul-in-an-argument"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: shell\n    with: {script: \"echo \\0\"}\n"),
             where="p.yaml:13: step 'extra'", id="nul-in-a-script"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    name: \"a\\0\"\n    uses: echo\n    with: {msg: x}\n"),
             where="p.yaml:12: step 'extra'", id="nul-in-a-name"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: echo\n    with: {msg: {deep: [\"\\0\"]}}\n"),
             where="p.yaml:13: step 'extra'", id="nul-deep-in-with"),
    # Each escape YAML turns into a NUL (the check is spared only for a text with none of them).
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: echo\n    with: {msg: \"a\\x00b\"}\n"),
             where="p.yaml:13: step 'extra'", id="nul-as-a-hex-escape"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: echo\n    with: {msg: \"a\\u0000b\"}\n"),
             where="p.yaml:13: step 'extra'", id="nul-as-a-unicode-escape"),
    run_case("p.yaml", playbook=with_step("  - id: extra\n    uses: echo\n    with: {msg: \"a\\U00000000b\"}\n"),
             where="p.yaml:13: step 'extra'", id="nul-as-a-long-unicode-escape"),
]
for tool in ("kubectl", "helm", "istioctl"):
    for kind, quoted in (("double", 'get \\"unterminated'), ("single", "get 'unterminated")):
        # `validate`, as the stand-ins for helm and istioctl are on PATH only with --emulate.
        CASES.append(Case(f"{tool}-args-unterminated-{kind}", ("validate", "p.yaml"),
                          f"p.yaml:13: step 'extra': {tool}: with.args: No closing quotation",
                          files={"p.yaml": with_step(
                              f"  - id: extra\n    uses: {tool}\n    with: {{args: \"{quoted}\"}}\n")}))

# -- --var ----------------------------------------------------------------------------------------------------
CASES += [
    run_case("p.yaml", "--var", "ns=" + "[" * 150 + "]" * 150, where="--var ns: collections nest", id="var-nested-150"),
    run_case("p.yaml", "--var", "ns=" + "[" * 5000, where="--var ns: YAML nesting", id="var-nested-5000-unclosed"),
    run_case("p.yaml", "--var", "x=" + "{a: " * 150 + "1" + "}" * 150, where="--var x: collections nest",
             id="var-nested-mappings"),
    run_case("p.yaml", "--var", "ns=[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], "
             "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c], "
             "&e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d], &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]]",
             where="--var ns: aliases expand", id="var-alias-bomb"),
    run_case("p.yaml", "--var", "=x", where="--var '=x' is not KEY=VALUE", id="var-no-key"),
    run_case("p.yaml", "--var", "novalue", where="--var 'novalue' is not KEY=VALUE", id="var-no-equals"),
    run_case("p.yaml", "--var", "count=abc", where="p.yaml:5: input 'count'", id="var-wrong-type"),
    run_case("p.yaml", "--var", "count=[1]", where="p.yaml:5: input 'count'", id="var-list-for-integer"),
    run_case("p.yaml", "--var", "count=1.5", where="p.yaml:5: input 'count'", id="var-float-for-integer"),
    run_case("p.yaml", "--var", "mode=medium", where="p.yaml:6: input 'mode'", id="var-not-in-enum"),
    run_case("p.yaml", "--var", "nss=x", where="p.yaml: --var 'nss' is not an input", id="var-typo"),
]

# -- vars files -----------------------------------------------------------------------------------------------
for key in ("1", "1.5", "on", "yes", "no", "true", "~"):
    CASES.append(run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": f"ns: x\n{key}: y\n"},
                          where="v.yaml:2: key", id=f"vars-file-key-{key}"))
CASES += [
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "? [a, b]\n: y\n"}, where="v.yaml:1: invalid YAML",
             id="vars-file-list-key"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "- a\n- b\n"},
             where="v.yaml: a vars file must be a YAML mapping", id="vars-file-a-list"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "hello\n"},
             where="v.yaml: a vars file must be a YAML mapping", id="vars-file-a-scalar"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": 'ns: "a\\0b"\n'},
             where="p.yaml:4: input 'ns' holds a NUL", id="vars-file-nul-escape"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "ns: no\n"}, where="p.yaml:4: input 'ns'",
             id="vars-file-no-for-a-string"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "count: on\n"}, where="p.yaml:5: input 'count'",
             id="vars-file-on-for-an-integer"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "ns: [\n"}, where="v.yaml:2: invalid YAML",
             id="vars-file-invalid"),
    run_case("p.yaml", "--vars-file", "/dev/zero", where="/dev/zero: more than the", id="vars-file-dev-zero"),
    run_case("p.yaml", "--vars-file", "f.yaml", setup=_endless_fifo("f.yaml"), where="f.yaml: more than the",
             id="vars-file-fifo"),
    run_case("p.yaml", "--vars-file", "nope.yaml", where="nope.yaml: no such file", id="vars-file-missing"),
    run_case("p.yaml", "--vars-file", "d", extra={"d/x": ""}, where="'d' is a directory", id="vars-file-directory"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": "x: " + "[" * 150 + "]" * 150 + "\n"},
             where="v.yaml:1: collections nest", id="vars-file-nested"),
    run_case("p.yaml", "--vars-file", "v.yaml", extra={"v.yaml": b"ns: \xff\n"}, where="v.yaml: not UTF-8",
             id="vars-file-not-utf8"),
]

# -- --emulate-cluster ------------------------------------------------------------------------------------------
for name, text, where in [
    ("missing", None, "c.yaml: no such file"),
    ("invalid-yaml", "namespaces: [\n", "--emulate-cluster: c.yaml: not valid YAML"),
    ("namespaces-a-number", "namespaces: 5\n", "--emulate-cluster: c.yaml: not a cluster file"),
    ("unknown-key", "foo: 1\n", "--emulate-cluster: c.yaml: unknown key"),
    ("istio-without-version", "istio: [{revision: x}]\n", "--emulate-cluster: c.yaml: istio[0]"),
    ("namespace-without-name", "namespaces: [{labels: {}}]\n", "--emulate-cluster: c.yaml: namespaces[0]"),
    ("readiness-delay-text", "readiness_delay: soon\n", "--emulate-cluster: c.yaml: not a cluster file"),
    ("count-text", "namespaces: [{name: x, count: many}]\n", "--emulate-cluster: c.yaml: not a cluster file"),
    ("control-character", "nodes: 3\x00\n", "--emulate-cluster: c.yaml"),
]:
    CASES.append(run_case("p.yaml", "--emulate-cluster", "c.yaml", extra={"c.yaml": text} if text is not None else {},
                          where=where, id=f"cluster-file-{name}"))
CASES.append(run_case("p.yaml", "--emulate-cluster", "/dev/zero", where="/dev/zero: more than the",
                      id="cluster-file-dev-zero"))

# -- journal records: `resume` of a failed run whose journal was damaged ----------------------------------------
JOURNAL_EVENTS = ["null", "5", '"text"', "[1, 2]", "true", '{"step": "mark"}', '{"event": 5}',
                  '{"event": "step_started", "step": 7}', '{"event": "step_started", "step": "mark", "time": "x"}',
                  '{"event": "run_finished", "failed": "mark"}', '{"event": "run_finished", "failed": [1]}',
                  '{"event": "step_succeeded", "step": "mark", "rc": "0"}',
                  '{"event": "step_succeeded", "step": "mark", "rc": true}',
                  '{"event": "step_succeeded", "step": "mark", "outputs": [1]}',
                  '{"event": "step_started", "step": "mark", "args": ' + "[" * 1000 + "]" * 1000 + "}",
                  '{"event": "x", "args": ' + "[" * 100000 + "]" * 100000 + "}", "{not json"]
JOURNAL_META = ["null", "[]", '{"playbook": 5}', '{"playbook": {"path": 5}}', '{"secrets": "x"}',
                '{"secrets": [1]}', '{"plan": {"mark": 1}}', '{"created": "yesterday"}', "{", '"just text"']


@dataclass(frozen=True)
class JournalCase:
    id: str
    args: tuple[str, ...]
    where: str
    damage: Callable[[Path], None]


def _event_line(text: str) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        lines = (run_dir / "events.jsonl").read_text().splitlines()
        (run_dir / "events.jsonl").write_text("\n".join([lines[0], text, *lines[1:]]) + "\n")
    return damage


def _file(name: str, text: str | None) -> Callable[[Path], None]:
    def damage(run_dir: Path) -> None:
        if text is None:
            (run_dir / name).unlink()
        else:
            (run_dir / name).write_text(text)
    return damage


JOURNAL_CASES = [JournalCase(f"event-{i}-{text[:24]}", ("resume", "RUN"), "events.jsonl:2:", _event_line(text))
                 for i, text in enumerate(JOURNAL_EVENTS)]
JOURNAL_CASES += [JournalCase(f"meta-{i}-{text[:24]}", ("resume", "RUN"), "meta.json", _file("meta.json", text))
                  for i, text in enumerate(JOURNAL_META)]
JOURNAL_CASES += [
    JournalCase("inputs-missing-resume", ("resume", "RUN"), "has no inputs.json", _file("inputs.json", None)),
    JournalCase("inputs-missing-rollback", ("rollback", "RUN", "--yes"), "has no inputs.json",
                _file("inputs.json", None)),
    JournalCase("inputs-a-list", ("resume", "RUN"), "inputs.json: a list", _file("inputs.json", "[1]")),
    JournalCase("show-damaged", ("show", "RUN"), "events.jsonl:2:", _event_line("[]")),
    JournalCase("rollback-damaged", ("rollback", "RUN", "--yes"), "events.jsonl:2:", _event_line("null")),
    JournalCase("empty-run-reference-resume", ("resume", ""), "an empty run reference", lambda d: None),
    JournalCase("empty-run-reference-rollback", ("rollback", "", "--yes"), "an empty run reference", lambda d: None),
    JournalCase("empty-run-reference-show", ("show", ""), "an empty run reference", lambda d: None),
    JournalCase("blank-run-reference", ("resume", "  "), "an empty run reference", lambda d: None),
]


def test_the_corpus_holds_at_least_120_inputs():
    assert len(CASES) + len(JOURNAL_CASES) >= 120, len(CASES) + len(JOURNAL_CASES)


def _refused(root: Path, proc, where: str) -> None:
    proc.join(60)
    out = (root / "cli.out").read_text(encoding="utf-8", errors="replace") if (root / "cli.out").exists() else ""
    assert proc.exitcode == 2, (proc.exitcode, out)
    assert "Traceback" not in out, out
    # `error:` lines are the engine's; `Error:` is click's, for options it checks itself (a directory for FILE).
    errors = [line for line in out.splitlines() if line.startswith(("error: ", "Error: "))]
    assert len(errors) == 1, out
    assert where in errors[0], (where, errors[0])
    assert not (root / "ran").exists(), "the step ran"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_refused_with_one_located_line_before_anything_runs(tmp_path, runs_env, case):
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    if case.setup is not None:
        case.setup(tmp_path)
    _refused(tmp_path, fork_cli(tmp_path, *case.args), case.where)
    runs = tmp_path / "runs"
    assert not runs.exists() or not any(p.is_dir() for p in runs.iterdir()), "a run directory was created"


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory) -> Path:
    """A project whose one run failed (step `mark` ran, `gate` failed) with --no-rollback: resumable."""
    root = tmp_path_factory.mktemp("journal")
    (root / "p.yaml").write_text(BASE + "  - id: gate\n    needs: [mark]\n    uses: shell\n"
                                 "    with: {script: \"test -e open\"}\n")
    old = os.environ.get("PLAYBOOK_RUNS_DIR")
    os.environ["PLAYBOOK_RUNS_DIR"] = "runs"
    try:
        proc = fork_cli(root, "run", "p.yaml", "--yes", "--no-rollback")
        proc.join(60)
    finally:
        if old is None:
            os.environ.pop("PLAYBOOK_RUNS_DIR")
        else:
            os.environ["PLAYBOOK_RUNS_DIR"] = old
    assert proc.exitcode == 1, (root / "cli.out").read_text()
    (root / "ran").unlink()
    (root / "cli.out").unlink()
    return root


@pytest.mark.parametrize("case", JOURNAL_CASES, ids=[c.id for c in JOURNAL_CASES])
def test_a_damaged_journal_is_refused_with_one_located_line(tmp_path, runs_env, failed_run, case):
    root = tmp_path / "project"
    shutil.copytree(failed_run, root, symlinks=True)
    (root / "open").write_text("")  # a resume that got going would run `gate` (and `mark` again, if so planned)
    run_dir = next(p for p in (root / "runs").iterdir() if p.is_dir())
    case.damage(run_dir)
    before = (run_dir / "events.jsonl").read_bytes()
    args = [run_dir.name if a == "RUN" else a for a in case.args]
    _refused(root, fork_cli(root, *args), case.where)
    assert (run_dir / "events.jsonl").read_bytes() == before, "the journal was written to"


def test_one_damaged_run_directory_never_hides_the_others_from_runs(tmp_path, runs_env, failed_run):
    root = tmp_path / "project"
    shutil.copytree(failed_run, root, symlinks=True)
    good = next(p for p in (root / "runs").iterdir() if p.is_dir())
    for i, text in enumerate(JOURNAL_EVENTS[:6] + ["{"]):
        bad = root / "runs" / f"{good.name}-bad{i}"
        shutil.copytree(good, bad)
        _event_line(text)(bad)
    (root / "runs" / f"{good.name}-meta").mkdir()
    shutil.copy(good / "events.jsonl", root / "runs" / f"{good.name}-meta" / "events.jsonl")
    (root / "runs" / f"{good.name}-meta" / "meta.json").write_text("[]")
    proc = fork_cli(root, "runs")
    proc.join(60)
    out = (root / "cli.out").read_text()
    assert proc.exitcode == 0 and "Traceback" not in out, out
    assert re.search(rf"^{good.name}\s+failed\s", out, re.M), out
    assert out.count("damaged") == 8, out
