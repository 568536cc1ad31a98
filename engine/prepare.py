"""Everything before the first step runs: load, check format/plugins/templates, resolve inputs, expand the graph.

`validate`, `graph`, `run --dry-run` and `run` all go through `prepare`, so they agree on what is valid.
"""
from __future__ import annotations

import difflib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import networkx as nx

from .errors import GraphError, PlaybookError, Problem, TemplateError, ValidationError
from .graph import Frame, Plan, build_plan
from .helpers import Lookups
from .inputs import ResolvedInputs, resolve_inputs
from .lint import step_reference_problems
from .masking import masked_error
from .model import Playbook, StepSpec, load_playbook
from .api import RunOptions
from .plugins.registry import PluginRegistry
from .render import RUNTIME_NAMES, Placeholder, Renderer, Scope
from .schema import line_at, problems_for, validator_for


@dataclass
class Prepared:
    """A playbook ready to plan or run."""

    playbook: Playbook
    inputs: ResolvedInputs
    plan: Plan
    renderer: Renderer
    plugins: PluginRegistry
    options: RunOptions
    helpers: Mapping[str, Any] = field(default_factory=dict)

    def scope(self, *, steps: Any = None, locals: dict | None = None) -> Scope:
        return Scope(self.renderer, inputs=self.inputs.values, var_templates=self.playbook.vars, steps=steps,
                     locals=locals, helpers=self.helpers)


def _walk(steps: list[StepSpec]):
    for spec in steps:
        yield spec
        if spec.steps:
            yield from _walk(spec.steps)


def _plugin_problems(spec: StepSpec, uses: str, args: dict, file: str, registry: PluginRegistry,
                     prefix: tuple, options: RunOptions) -> list[Problem]:
    try:
        plugin = registry.get(uses)
    except ValidationError as err:
        p = err.problems[0]
        return [Problem(p.message, file=file, line=line_at(spec.raw, prefix[:-1] + ("uses",)) or spec.line,
                        step=spec.id, hint=p.hint)]
    out = []
    validator = validator_for(plugin.schema)
    # A template string stands for a value of any type until rendered: errors about it alone wait for run time.
    for prob in problems_for(args, validator, file=file, prefix=prefix, base_doc=spec.raw, templates=True):
        out.append(Problem(f"{uses}: {prob.message}", file=file, line=prob.line or spec.line, step=spec.id,
                           hint=prob.hint))
    for message in plugin.check(args):
        out.append(Problem(f"{uses}: {message}", file=file, line=line_at(spec.raw, prefix) or spec.line,
                           step=spec.id))
    return out


def _prerequisites(playbook: Playbook, registry: PluginRegistry, options: RunOptions) -> list[Problem]:
    """Missing programs, each said once with the steps that need it (not once per step), before anything runs.

    They matter only to a real run: a reviewer's dry run on a laptop without istioctl is fine."""
    if options.dry_run:
        return []
    needed: dict[str, list[StepSpec]] = {}
    for spec in _walk(playbook.steps):
        for action in ([spec] if spec.uses else []) + ([spec.rollback] if spec.rollback else []):
            try:
                messages = registry.get(action.uses).preflight(action.args, options)
            except ValidationError:
                continue  # unknown or broken: reported, located, where the step names it
            except Exception as err:  # noqa: BLE001 — a plugin's bug is contained, named
                messages = [f"internal error in plugin '{action.uses}' (preflight): {type(err).__name__}: {err}"]
            for message in messages:
                specs = needed.setdefault(f"{action.uses}: {message}", [])
                if not specs or specs[-1] is not spec:
                    specs.append(spec)
    out = []
    for message, specs in needed.items():
        ids = [s.id for s in specs]
        who = f"step '{ids[0]}'" if len(ids) == 1 else (
            f"{len(ids)} steps ({', '.join(ids[:3])}{', ...' if len(ids) > 3 else ''})")
        out.append(Problem(f"{message}; needed by {who}", file=playbook.file, line=specs[0].line,
                           step=ids[0] if len(ids) == 1 else None))
    return out


def _raw_args(registry: PluginRegistry, uses: str) -> tuple[str, ...]:
    """The plugin's declared raw (unrendered) keys; none when the plugin is unknown or broken (reported)."""
    try:
        return registry.get(uses).raw_args
    except ValidationError:
        return ()


def check_playbook(playbook: Playbook, registry: PluginRegistry, renderer: Renderer, options: RunOptions,
                   lookups: Lookups | None = None) -> None:
    """Plugin arguments, template syntax and names; every problem reported at once."""
    file = playbook.file
    problems: list[Problem] = []
    lookups = lookups or Lookups()
    known = set(playbook.inputs) | set(playbook.vars) | RUNTIME_NAMES | set(renderer.env.globals)

    def names_ok(spec: StepSpec | None, value: Any, what: str, locate: Callable[[], int | None],
                 expression: bool = False) -> None:
        """`locate` gives the line: looked up only for a problem (a walk of the step's raw mapping)."""
        try:
            used = renderer.check_syntax(value, expression=expression)
        except TemplateError as err:
            problems.append(Problem(f"{what}: {err.problems[0].message}", file=file, line=locate(),
                                    step=spec.id if spec else None))
            return
        line = None
        for name in sorted(n for n in used - known if not lookups.knows(n)):
            line = line or locate()
            close = difflib.get_close_matches(name, sorted(known | lookups.names()), n=1)
            problems.append(Problem(f"{what} uses '{name}', which is not an input, var or helper", file=file,
                                    line=line, step=spec.id if spec else None,
                                    hint=f"did you mean '{close[0]}'?" if close else
                                    f"declare it under inputs (or vars), or use `{name} | default(...)`"))

    var_graph = nx.DiGraph()
    for name, value in playbook.vars.items():
        names_ok(None, value, f"var '{name}'", lambda n=name: playbook.doc["vars"].line_of(n))
        try:
            used = renderer.check_syntax(value)
        except TemplateError:
            continue
        var_graph.add_edges_from((name, other) for other in used if other in playbook.vars)
    for cycle in nx.simple_cycles(var_graph):
        problems.append(Problem(f"vars refer to each other in a cycle: {' -> '.join(cycle + [cycle[0]])}", file=file,
                                line=playbook.doc["vars"].line_of(cycle[0]), hint="break the cycle"))
        break
    for spec in _walk(playbook.steps):
        raw = spec.raw
        if spec.uses:
            problems += _plugin_problems(spec, spec.uses, spec.args, file, registry, ("with",), options)
            plugin_raw = _raw_args(registry, spec.uses)
            for key, value in spec.args.items():
                names_ok(spec, value, f"with.{key}", lambda k=key: line_at(raw, ("with", k)),
                         expression=key in plugin_raw)
        if spec.rollback:
            problems += _plugin_problems(spec, spec.rollback.uses, spec.rollback.args, file, registry,
                                         ("rollback", "with"), options)
            names_ok(spec, spec.rollback.args, "rollback", lambda: line_at(raw, ("rollback",)))
        for key in ("when", "until"):
            value = getattr(spec, key)
            if value is not None:
                names_ok(spec, value, key, lambda k=key: line_at(raw, (k,)), expression=True)
        for key in ("for_each", "confirm", "name"):
            value = getattr(spec, key)
            if value is not None:
                names_ok(spec, value, key, lambda k=key: line_at(raw, (k,)))
    problems += step_reference_problems(playbook, renderer)
    problems += _prerequisites(playbook, registry, options)
    if problems:
        raise ValidationError(problems=list(dict.fromkeys(problems)))


def _expander(prepared_scope, renderer: Renderer, file: str):
    def expand(spec: StepSpec, frame: Frame) -> list[Any]:
        value = spec.for_each
        if isinstance(value, str):
            if "steps" in renderer.check_syntax(value):
                raise GraphError("for_each can use inputs, vars, item and cluster look-ups, not step results",
                                 file=file, line=spec.raw.line_of("for_each"), step=spec.id,
                                 hint="the copies are planned before the run starts")
            try:
                value = renderer.render(value, prepared_scope(frame.locals))
            except TemplateError as err:
                raise TemplateError(f"for_each: {err.problems[0].message}", file=file,
                                    line=spec.raw.line_of("for_each"), step=spec.id) from None
        if isinstance(value, Placeholder):
            return [value]
        if isinstance(value, dict):
            value = [{"key": k, "value": v} for k, v in value.items()]
        if not isinstance(value, list):
            raise GraphError(f"for_each must give a list, got {type(value).__name__} {value!r}", file=file,
                             line=spec.raw.line_of("for_each"), step=spec.id)
        return value
    return expand


def prepare(path: str | Path, *, cli_vars: dict[str, Any] | None = None, cli_raw: dict[str, str] | None = None,
            file_vars: dict[str, Any] | None = None, options: RunOptions | None = None,
            out_dir: Path | None = None, registry: PluginRegistry | None = None) -> Prepared:
    """Load and check a playbook, resolve its inputs and expand its graph; raises PlaybookError (exit 2)."""
    options = options or RunOptions()
    playbook = load_playbook(path)
    registry = registry or PluginRegistry()
    if out_dir is None:
        out_dir = Path(tempfile.mkdtemp(prefix="playbook-render-"))
    renderer = Renderer(playbook.base_dir, out_dir, placeholders=options.dry_run)
    lookups = Lookups()
    check_playbook(playbook, registry, renderer, options, lookups)
    inputs = resolve_inputs(playbook, cli_vars or {}, file_vars, cli_raw)
    helpers = lookups.for_run(options)

    def scope_for(locals: dict) -> Scope:
        return Scope(renderer, inputs=inputs.values, var_templates=playbook.vars, steps=None, locals=locals,
                     helpers=helpers)

    try:
        plan = build_plan(playbook, _expander(scope_for, renderer, playbook.file))
    except PlaybookError as err:  # for_each and guard messages may quote a secret's value
        raise masked_error(err, inputs.masker) from None
    return Prepared(playbook=playbook, inputs=inputs, plan=plan, renderer=renderer, plugins=registry,
                    options=options, helpers=helpers)
