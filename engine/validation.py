"""`playbook validate`: every problem of a playbook file at once, required inputs it lacks standing in as
placeholders; built from `prepare`'s checks and `lint`'s, above both (so neither imports the other back)."""
from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .errors import PlaybookError, Problem
from .graph import build_plan
from .helpers import Lookups
from .inputs import ResolvedInputs, resolve_inputs
from .masking import masked_error
from .model import load_playbook
from .plugins.registry import PluginRegistry
from .prepare import Prepared, _expander, check_playbook
from .render import Placeholder, Renderer, Scope


@dataclass
class Validation:
    """What `validate` found: the prepared playbook (None when a problem prevents it) and what it lacked."""

    problems: list[Problem] = field(default_factory=list)
    prepared: Any = None
    lacking: list[str] = field(default_factory=list)  # required inputs not given: validated as placeholders


def _gather(problems: list[Problem], fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except PlaybookError as err:
        problems.extend(err.problems)
        return None


def validate_file(path: str | Path, *, cli_vars: dict[str, Any], cli_raw: dict[str, str],
                  file_vars: dict[str, Any] | None, options: Any) -> Validation:
    """Every problem of the playbook at `path`; a format error stops it (nothing else can be read)."""
    playbook = load_playbook(path)
    registry = PluginRegistry()
    renderer = Renderer(playbook.base_dir, Path(tempfile.mkdtemp(prefix="playbook-validate-")), placeholders=True)
    result = Validation()
    lookups = Lookups()
    _gather(result.problems, lambda: check_playbook(playbook, registry, renderer, options, lookups))
    given = {**(file_vars or {}), **cli_vars}
    result.lacking = [n for n, s in playbook.inputs.items() if s.required and not s.has_default and n not in given]
    known = dataclasses.replace(playbook, inputs={n: s for n, s in playbook.inputs.items()
                                                  if n not in result.lacking})
    inputs = _gather(result.problems, lambda: resolve_inputs(known, cli_vars, file_vars, cli_raw))
    if inputs is not None and result.lacking:
        values = {**inputs.values, **{n: Placeholder(n) for n in result.lacking}}
        inputs = ResolvedInputs(values=values, secrets={n for n, s in playbook.inputs.items() if s.secret},
                                undeclared=inputs.undeclared)
    helpers = lookups.for_run(options, cluster=False)  # a for_each over a cluster look-up: one placeholder copy
    values = inputs.values if inputs is not None else {n: Placeholder(n) for n in playbook.inputs}

    def scope_for(locals: dict) -> Scope:
        return Scope(renderer, inputs=values, var_templates=playbook.vars, steps=None, locals=locals, helpers=helpers)

    def plan_it() -> Any:
        try:
            return build_plan(playbook, _expander(scope_for, renderer, playbook.file))
        except PlaybookError as err:  # for_each and guard messages may quote a secret's value
            raise (masked_error(err, inputs.masker) if inputs is not None else err) from None
    plan = _gather(result.problems, plan_it)
    result.problems = list(dict.fromkeys(result.problems))
    if plan is not None and inputs is not None and not result.problems:
        result.prepared = Prepared(playbook=playbook, inputs=inputs, plan=plan, renderer=renderer,
                                   plugins=registry, options=options, helpers=helpers)
    return result
