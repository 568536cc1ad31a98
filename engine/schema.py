"""Checking documents against JSON Schemas (draft 2020-12) and turning errors into located, mendable messages."""
from __future__ import annotations

import difflib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import jsonschema
from jsonschema import Draft202012Validator

from .errors import Problem
from .loader import LineMap

# engine/schemas links to the top-level schemas/ so that wheels carry the schema files too.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@lru_cache(maxsize=None)
def playbook_schema() -> dict:
    """The playbook format's JSON Schema (schemas/playbook.schema.json)."""
    return json.loads((SCHEMA_DIR / "playbook.schema.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _playbook_validator() -> Draft202012Validator:
    return Draft202012Validator(playbook_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def line_at(doc: Any, path: Iterable[Any]) -> int | None:
    """Line of the deepest node along `path` that knows its line."""
    line = getattr(doc, "line", None)
    node = doc
    for part in path:
        if isinstance(node, LineMap) and part in node:
            line = node.line_of(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            line = getattr(node, "line", line)
        else:
            break
    return line


def _step_id_at(doc: Any, path: list[Any]) -> str | None:
    """Id of the innermost step on the path (steps may nest in groups and rollback blocks)."""
    node, found = doc, None
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            found = node["id"]
    return found


def dotted(path: Iterable[Any]) -> str:
    """`steps[2].with.args` style path for messages."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _hint(error: jsonschema.ValidationError) -> str | None:
    v, val = error.validator, error.validator_value
    if v == "additionalProperties" and isinstance(error.instance, dict):
        allowed = list(error.schema.get("properties", {}))
        extras = [k for k in error.instance if k not in allowed]
        tips = []
        for extra in extras:
            close = difflib.get_close_matches(str(extra), allowed, n=1)
            tips.append(f"did you mean '{close[0]}'?" if close else f"remove '{extra}'")
        return "; ".join(tips) + (f" — allowed: {', '.join(allowed)}" if allowed else "")
    if v == "oneOf" and str(error.schema.get("description", "")).startswith("A duration"):
        return "write e.g. 30s, 5m, 1h30m or a number of seconds"
    if v == "required":
        return "add the missing key"
    if v == "enum":
        return "use one of: " + ", ".join(json.dumps(x) for x in val)
    if v == "const":
        return f"set it to {json.dumps(val)}"
    if v == "pattern":
        return f"it must match {val}"
    if v == "type":
        return f"write a{'n' if str(val)[0] in 'aeio' else ''} {val}"
    if v == "minItems" and val == 1:
        return "give at least one item"
    return None


def forms_message(forms: Iterable[str], given: list[str]) -> str:
    """What to say when a plugin's `with` gives none, or more than one, of its exclusive forms."""
    if given:
        return f"give only one of {', '.join(forms)} (got {' and '.join(given)})"
    return f"give one of {', '.join(forms)}"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "oneOf" and isinstance(error.instance, dict) and "id" in error.instance:
        inst = error.instance
        if "uses" in inst and "steps" in inst:
            return "a step has either `uses` (a plugin) or `steps` (a group), not both"
        if "steps" in inst:
            bad = [k for k in ("uses", "with", "rollback", "retries", "until", "delay", "backoff") if k in inst]
            return f"a group (a step with `steps`) cannot have {', '.join(bad)}: put them on its inner steps"
        return "a step needs `uses` (a plugin) or `steps` (a group)"
    if error.validator == "oneOf" and str(error.schema.get("description", "")).startswith("A duration"):
        return f"{error.instance!r} is not a duration"
    alternatives = error.validator_value if error.validator == "oneOf" else None
    if alternatives and all(set(a) == {"required"} and len(a["required"]) == 1 for a in alternatives):
        # A plugin's forms (`args`, `apply`, ...): exactly one key of a set.
        forms = [a["required"][0] for a in alternatives]
        return forms_message(forms, [f for f in forms if isinstance(error.instance, dict) and f in error.instance])
    if error.validator == "oneOf" and error.context:
        # Report the alternative that got furthest rather than the generic "not valid under any".
        best = jsonschema.exceptions.best_match(error.context)
        return best.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extras = [k for k in error.instance if k not in allowed]
        return f"unknown key{'s' if len(extras) > 1 else ''} {', '.join(repr(e) for e in extras)}"
    return error.message


def problems_for(doc: Any, validator: Draft202012Validator, *, file: str, prefix: tuple = (),
                 base_doc: Any = None, ignore: Callable[[Any], bool] | None = None) -> list[Problem]:
    """Every schema error of `doc`, located in `base_doc` (the whole file) through `prefix`.

    `ignore(instance)` drops errors about values that cannot be judged yet (unrendered templates).
    """
    base = base_doc if base_doc is not None else doc
    out = []
    for error in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        if ignore is not None and ignore(error.instance):
            continue
        path = list(prefix) + list(error.absolute_path)
        located = path
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            extras = [k for k in error.instance if k not in error.schema.get("properties", {})]
            located = path + extras[:1]  # point at the offending key's line
        out.append(Problem(f"{dotted(path)}: {_message(error)}", file=file, line=line_at(base, located),
                           step=_step_id_at(base, path), hint=_hint(error)))
    return out


# jsonschema walks a 10,000-step playbook in seconds; fastjsonschema (generated code) in a tenth of that but
# says only "valid" or the first error. So a large document it finds valid is valid; anything else, and every
# small document (where generating the code costs more than it saves), goes through jsonschema, which
# reports every problem with the usual messages. fastjsonschema is at least as strict on this schema (it
# reads `$` in patterns as end-of-string), so it never accepts what jsonschema refuses.
_FAST_MIN_STEPS = 200


@lru_cache(maxsize=None)
def _fast_playbook_check() -> Callable[[Any], Any] | None:
    try:
        import fastjsonschema
        return fastjsonschema.compile(playbook_schema())
    except Exception:  # noqa: BLE001 — not installed, or cannot compile: jsonschema alone is still right
        return None


def _count_steps(doc: Any, limit: int) -> int:
    count, todo = 0, [doc.get("steps") if isinstance(doc, dict) else None]
    while todo and count < limit:
        steps = todo.pop()
        if isinstance(steps, list):
            count += len(steps)
            todo += [s.get("steps") for s in steps if isinstance(s, dict) and "steps" in s]
    return count


def _surely_valid(doc: Any) -> bool:
    if _count_steps(doc, _FAST_MIN_STEPS) < _FAST_MIN_STEPS:
        return False
    check = _fast_playbook_check()
    if check is None:
        return False
    try:
        check(doc)
    except Exception:  # noqa: BLE001 — invalid, or a value it cannot judge: jsonschema decides
        return False
    return True


def validate_playbook_document(doc: Any, file: str) -> list[Problem]:
    """Schema problems of a loaded playbook document, in file order."""
    if _surely_valid(doc):
        return []
    problems = problems_for(doc, _playbook_validator(), file=file)
    problems.sort(key=lambda p: p.line or 0)
    return problems


# Plugin schemas are class attributes: check and build each once, not once per step (check_schema costs ms).
# Keyed by id() with the schema kept alive beside its validator, so an id is never reused for another dict.
_VALIDATORS: dict[int, tuple[dict, Draft202012Validator]] = {}


# The schemas of the plugins shipped in this package are checked against the metaschema by the test suite
# (tests/core/test_plugin_schemas.py); checking them again in every process costs ~40 ms each (the 2020-12
# metaschema is slow to apply), a quarter of a second on every `validate` and `run`.
_TRUSTED: dict[int, dict] = {}


def trust_schema(schema: dict) -> None:
    """Skip the metaschema check of `schema`: a built-in plugin's, which the tests check."""
    _TRUSTED[id(schema)] = schema


def validator_for(schema: dict) -> Draft202012Validator:
    """A validator for a plugin's `with` schema (checked itself first: a bad plugin schema is a bug)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    if _TRUSTED.get(id(schema)) is not schema:
        Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator
