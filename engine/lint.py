"""What `validate` adds to preparing a playbook: every problem of a file at once, and a check without values.

`step_reference_problems` finds `steps.<id>` (and `steps['<id>']`) naming no step the template can see, and
`item`/`loop_index` outside any `for_each`, with did-you-mean; `prepare` runs it too, so `run` refuses what
`validate` refuses. `validate_file` runs every stage (format, plugin arguments, templates, references, inputs,
graph) and gathers their problems instead of stopping at the first stage that has one; required inputs that
were not given stand as placeholders, so a shipped playbook validates without its `--var`s and the result
says which inputs it lacked.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterator

from jinja2 import nodes

from .errors import Problem
from .model import Playbook, StepSpec
from .render import Renderer

_LOOP_NAMES = ("item", "loop_index")
_LOOP_SET = frozenset(_LOOP_NAMES)


def _templates(spec: StepSpec) -> Iterator[tuple[str, Any, bool]]:
    """(where, value, is_expression) for every templated field of a step."""
    for key, value in spec.args.items():
        yield f"with.{key}", value, False
    if spec.rollback is not None:
        yield "rollback", spec.rollback.args, False
    for key in ("when", "until"):
        if getattr(spec, key) is not None:
            yield key, getattr(spec, key), True
    for key in ("confirm", "name"):
        if getattr(spec, key) is not None:
            yield key, getattr(spec, key), False
    # for_each is rendered in the enclosing scope: checked with the step's parent (see _walk)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        if "{" in value:
            yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _step_ids_used(ast: nodes.Template) -> set[str]:
    """Ids read as `steps.<id>` or `steps['<id>']`."""
    out = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if isinstance(node.node, nodes.Name) and node.node.name == "steps" and node.node.ctx == "load":
            if isinstance(node, nodes.Getattr):
                out.add(node.attr)
            elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
                out.add(node.arg.value)
    return out


def _names_used(ast: nodes.Template) -> set[str]:
    return {n.name for n in ast.find_all(nodes.Name) if n.ctx == "load"}


def _did_you_mean(name: str, choices: set[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def step_reference_problems(playbook: Playbook, renderer: Renderer) -> list[Problem]:
    """`steps.<id>` naming no step visible from the template, and `item` outside every `for_each`."""
    problems: list[Problem] = []
    file = playbook.file
    every_id: set[str] = set()

    def collect(specs: list[StepSpec]) -> None:
        for s in specs:
            every_id.add(s.id)
            if s.steps:
                collect(s.steps)
    collect(playbook.steps)

    # A large playbook repeats the same few template texts thousands of times: each is parsed once.
    seen: dict[tuple[str, bool], tuple[set[str], set[str]] | None] = {}

    def used_by(text: str, expression: bool) -> tuple[set[str], set[str]] | None:
        key = (text, expression)
        if key not in seen:
            ast = renderer.parsed(text, expression)  # None: a syntax error, reported by check_playbook
            seen[key] = None if ast is None else (_step_ids_used(ast), _names_used(ast))
        return seen[key]

    def check(spec: StepSpec | None, where: str, value: Any, expression: bool, visible: set[str],
              in_loop: bool, locate: Callable[[], int | None]) -> None:
        line = None  # looked up only for a problem: most templates have none
        for text in ([value] if expression and isinstance(value, str) else _strings(value)):
            used = used_by(text, expression)
            if used is None:
                continue
            step_ids, names = used
            if line is None and (step_ids - visible or (not in_loop and names & _LOOP_SET)):
                line = locate()
            for sid in sorted(step_ids - visible):
                hint = _did_you_mean(sid, visible)
                if sid in every_id:
                    message = f"{where} reads steps.{sid}, which is inside another group and not visible here"
                    hint = hint or "read it through its group: steps.<group>.steps.<id>"
                else:
                    message = f"{where} reads steps.{sid}, but there is no step '{sid}'"
                problems.append(Problem(message, file=file, line=line, step=spec.id if spec else None,
                                        hint=hint or f"step ids here: {', '.join(sorted(visible)) or 'none'}"))
            if not in_loop:
                for name in sorted(names & set(_LOOP_NAMES)):
                    if name in playbook.inputs or name in playbook.vars:
                        continue
                    problems.append(Problem(f"{where} uses '{name}', which exists only inside a for_each",
                                            file=file, line=line, step=spec.id if spec else None,
                                            hint="add for_each to this step or to a group around it"))

    def walk(specs: list[StepSpec], outer: set[str], in_loop: bool) -> None:
        visible = outer | {s.id for s in specs}
        for spec in specs:
            looped = in_loop or spec.for_each is not None
            raw = spec.raw
            if spec.for_each is not None:
                check(spec, "for_each", spec.for_each, False, visible, in_loop,
                      lambda: _line(raw, "for_each", spec))
            for where, value, expression in _templates(spec):
                check(spec, where, value, expression, visible, looped, lambda w=where: _line(raw, w, spec))
            if spec.steps:
                walk(spec.steps, visible, looped)

    walk(playbook.steps, set(), False)
    for name, value in playbook.vars.items():  # rendered where used: any step may be visible
        check(None, f"var '{name}'", value, False, every_id, True, lambda n=name: playbook.doc["vars"].line_of(n))
    return problems


def _line(raw: Any, where: str, spec: StepSpec) -> int | None:
    from .schema import line_at
    path = tuple(where.split(".", 1)) if where.startswith("with.") else (where,)
    try:
        return line_at(raw, path) or spec.line
    except Exception:  # noqa: BLE001 — a location is a nicety; never fail a check for want of one
        return spec.line
