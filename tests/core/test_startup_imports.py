"""What start-up pays for: a command imports only what it uses, and the checks generated ahead of time agree
with jsonschema and with the schemas they were made from."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from engine import schemagen
from engine.loader import load_yaml_file
from engine.plugins.registry import BUILTIN, PluginRegistry
from engine.schema import Checker, _playbook_validator, is_template, template_tolerant, validator_for

ROOT = Path(__file__).resolve().parents[2]

ONE_STEP = "version: 1\nname: one\nsteps:\n  - id: s0\n    uses: command\n    with: {args: [/bin/true]}\n"


def _modules_after(args: list[str], tmp_path: Path) -> set[str]:
    """The modules loaded by the end of `playbook ARGS` in a fresh interpreter."""
    probe = ("import sys, atexit\n"
             "out = sys.argv.pop(1)\n"
             "atexit.register(lambda: open(out, 'w').write('\\n'.join(sorted(sys.modules))))\n"
             "from engine.cli import main\nmain()\n")
    out = tmp_path / "modules.txt"
    done = subprocess.run([sys.executable, "-c", probe, str(out), *args], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(out.read_text().split())


# Heavy packages a valid document never needs: jsonschema (only to explain an invalid
# document), the Kubernetes client (only when a step or look-up talks to a cluster), aiohttp (the emulator).
# (importlib.metadata is not listed: networkx, which builds the step DAG, imports it for its backends.)
NOT_AT_START = ["jsonschema", "kubernetes", "aiohttp"]


@pytest.mark.parametrize("args,unwanted", [
    (["run", "one.yaml", "--yes", "--quiet", "--runs-dir", "runs"], NOT_AT_START),
    (["validate", "one.yaml"], NOT_AT_START),
    # The canary playbook plans its waves from cluster look-ups; validate plans those as placeholders. Its http
    # steps need urllib.request (and with it http.client and ssl) only when one runs.
    (["validate", str(ROOT / "playbooks" / "canary-upgrade.yaml"), "--var", "rev=1-20-0"],
     NOT_AT_START + ["urllib.request", "ssl"]),
], ids=["run of one step", "validate of one step", "validate of the canary playbook"])
def test_a_valid_playbook_imports_no_heavy_package(tmp_path, args, unwanted):
    (tmp_path / "one.yaml").write_text(ONE_STEP)
    loaded = _modules_after(args, tmp_path)
    assert [m for m in unwanted if m in loaded] == []


def test_an_invalid_playbook_is_explained_by_jsonschema(tmp_path):
    (tmp_path / "bad.yaml").write_text(ONE_STEP.replace("id: s0", "id: s0\n    retries: many"))
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", "bad.yaml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "bad.yaml:5" in done.stderr and "retries" in done.stderr


def test_built_in_plugins_are_the_ones_pyproject_declares():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["playbook.plugins"]
    assert BUILTIN == declared


def test_checks_generated_ahead_of_time_are_current():
    """Fails after a schema change until `python -m engine.schemagen` is run (a stale check is never used)."""
    target = schemagen.TARGET
    wanted = schemagen.sources()
    have = {p.name: p.read_text() for p in target.glob("*.py")}
    assert sorted(have) == sorted(wanted)
    stale = [name for name, text in wanted.items() if have[name] != text]
    assert not stale, f"run `python -m engine.schemagen` ({', '.join(stale)} stale)"


# -- the generated check never accepts what jsonschema refuses ------------------------------------------

PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yaml"))


@pytest.mark.parametrize("path", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_shipped_playbooks_pass_the_fast_check(path):
    checker = _playbook_validator()
    assert checker._fast is not False or checker.is_valid({}) is False
    assert checker.is_valid(load_yaml_file(path))


def _args_cases():
    cases = [
        ("command", {"args": ["echo", "hi"]}), ("command", {"args": "{{ argv }}"}), ("command", {"args": []}),
        ("command", {"args": ["x"], "env": {"A": True}}), ("command", {"args": ["x"], "env": {"A": None}}),
        ("command", {"args": ["x"], "cwd": 3}), ("command", {"args": ["x"], "bogus": 1}), ("command", {}),
        ("command", {"args": ["x"], "cwd": "{{ d }}"}), ("command", {"args": True}),
        ("shell", {"script": "echo hi"}), ("shell", {"script": 1}),
        ("echo", {"msg": "hi"}), ("echo", {"msg": ["a"]}),
        ("assert", {"that": ["a", "b"]}), ("assert", {"that": "a"}), ("assert", {"that": [1]}),
        ("wait", {"duration": "10s"}), ("wait", {"duration": "ten"}), ("wait", {"duration": -1}),
        ("wait", {"duration": "{{ d }}"}), ("wait", {"duration": True}), ("wait", {"duration": 1.5}),
        ("wait", {"rollout": "deployment/web", "namespace": "{{ ns }}"}), ("wait", {"rollout": "deployment/Web"}),
        ("wait", {"exists": "cm/x", "gone": "cm/y"}), ("wait", {"jsonpath": "{.a}"}),
        ("wait", {"object": "cm/x", "jsonpath": "{.a}", "equals": "{{ v }}"}),
        ("kubectl", {"args": ["get", "pods"]}), ("kubectl", {"apply": "{{ manifest }}"}),
        ("kubectl", {"args": ["get"], "delete": ["ns/a"]}), ("kubectl", {"delete": ["ns/a"], "namespace": 3}),
        ("istioctl", {"install": {"revision": "{{ rev }}"}}), ("istioctl", {"install": {"revision": "1.20"}}),
        ("istioctl", {"install": {"revision": "1-20", "set": ["a=b"]}}),
        ("istioctl", {"install": {"revision": "1-20", "set": ["ab"]}}),
        ("istioctl", {"install": {"revision": "1-20", "set": ["{{ s }}"]}}),
        ("helm", {"upgrade": {"release": "{{ r }}", "chart": "c"}}), ("helm", {"upgrade": {"release": "R"}}),
        ("http", {"url": "https://x"}), ("http", {"url": "ftp://x"}), ("http", {"url": "{{ u }}"}),
        ("http", {"url": "https://x", "expect": {"status": "{{ s }}"}}),
        ("prometheus", {"url": "http://p", "query": "up", "max": "{{ m }}"}),
        ("pause", {"duration": "1s"}), ("pause", {"prompt": "go?"}), ("pause", {}),
        ("approve", {"prompt": "go?"}), ("approve", {"prompt": 3}),
    ]
    return cases


@pytest.mark.parametrize("plugin,args", _args_cases(), ids=[f"{p}:{json.dumps(a)}" for p, a in _args_cases()])
def test_fast_check_agrees_with_jsonschema(plugin, args):
    """Strict: exactly jsonschema's verdict; with templates: exactly 'no error left after dropping the ones
    about template strings' (what validate reports), or else jsonschema is asked."""
    schema = PluginRegistry().get(plugin).schema
    full = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    checker = validator_for(schema)
    assert (not list(checker.iter_errors(args))) == full.is_valid(args)
    if checker.is_valid(args):
        assert full.is_valid(args)
    if template_tolerant(schema) is not None:
        left = [e for e in full.iter_errors(args) if not is_template(e.instance)]
        if checker.is_valid(args, templates=True):
            assert not left


@pytest.mark.parametrize("schema,value", [
    ({"type": "integer"}, True), ({"type": "number"}, False), ({"type": "integer"}, 1.0),
    ({"type": "string", "pattern": "^a$"}, "a\n"), ({"type": "string", "format": "email"}, "nope"),
    ({"type": "object", "properties": {"a": {"type": "integer", "default": 1}}}, {}),
    ({"type": "array", "items": {"type": "string"}, "uniqueItems": True}, ["a", "a"]),
    ({"enum": [1, "1"]}, 1), ({"const": 1}, True),
])
def test_input_checker_agrees_with_jsonschema_and_does_not_fill_defaults(schema, value):
    before = json.dumps(value)
    checker = Checker(schema, formats=False)
    assert (not list(checker.iter_errors(value))) == Draft202012Validator(schema).is_valid(value)
    if checker.is_valid(value):
        assert Draft202012Validator(schema).is_valid(value)
    assert json.dumps(value) == before


def test_plugin_look_ups_are_read_only_when_a_name_is_not_built_in(tmp_path, monkeypatch):
    from importlib.metadata import EntryPoint

    from engine.api import RunOptions
    from engine.helpers import Lookups
    (tmp_path / "answer_lookup.py").write_text("def make(options):\n    return lambda: 42\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    lookups = Lookups(points=[EntryPoint(name="answer", value="answer_lookup:make", group="playbook.lookups")])
    helpers = lookups.for_run(RunOptions())
    assert "pods" in helpers and lookups._found is None  # built-in: no entry point read
    assert lookups.knows("answer") and not lookups.knows("nope")
    assert "answer" in helpers and helpers["answer"]() == 42
    assert set(helpers) >= {"pods", "namespaces", "k8s_get", "revisions", "answer"}


def test_every_built_in_look_up_that_asks_the_cluster_is_planned_as_a_placeholder_by_validate():
    """A look-up reaches the cluster through the run's `kube` (or the plan's index built from it); validate
    replaces exactly those, so a new cluster look-up left out of CLUSTER_BOUND fails here."""
    from engine.api import RunOptions
    from engine.helpers import CLUSTER_BOUND, CLUSTER_LOOKUPS, Lookups
    from engine.render import Placeholder
    live = Lookups(points=[]).for_run(RunOptions())
    asks = {name for name in CLUSTER_LOOKUPS
            if {"kube", "plan_index"} & set(getattr(live[name], "__code__", None) and live[name].__code__.co_freevars
                                            or ())}
    assert asks == CLUSTER_BOUND
    offline = Lookups(points=[]).for_run(RunOptions(), cluster=False)
    assert all(isinstance(offline[name]("x"), Placeholder) for name in CLUSTER_BOUND)
    assert offline["quantity"]("500m") == 0.5
