"""Checking documents against JSON Schemas (draft 2020-12) and turning errors into located, mendable messages.

Whether a document is valid is decided by code fastjsonschema generates from the schema; jsonschema (slower
to import than a whole `playbook run` of one step takes otherwise) is imported only to explain a document
that check refuses, with every problem and the usual messages.
"""
from __future__ import annotations

import difflib
import hashlib
import importlib
import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from .errors import Problem
from .loader import LineMap

if TYPE_CHECKING:
    import jsonschema

# engine/schemas links to the top-level schemas/ so that wheels carry the schema files too.
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"


@lru_cache(maxsize=None)
def playbook_schema() -> dict:
    """The playbook format's JSON Schema (schemas/playbook.schema.json)."""
    return json.loads((SCHEMA_DIR / "playbook.schema.json").read_text(encoding="utf-8"))


def is_template(value: Any) -> bool:
    """A template string stands for a value of any type until rendered."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


class Checker:
    """One schema's validator: `iter_errors` is empty at once for a document the generated check accepts.

    With `check_schema` the schema itself is checked against the metaschema first (a bad plugin schema is a
    bug, said before anything is judged with it); `formats` says whether `format` keywords are asserted.
    """

    def __init__(self, schema: dict, *, check_schema: bool = False, formats: bool = True) -> None:
        self.schema = schema
        self._check_schema = check_schema
        self._formats = formats
        self._full: Any = None
        if check_schema:
            self.explainer()
        self._fast: Callable[[Any], Any] | None | bool = False  # False: not made yet
        self._fast_templated: Callable[[Any], Any] | None | bool = False

    def is_valid(self, doc: Any, *, templates: bool = False) -> bool:
        """Valid; with `templates`, template strings pass wherever a value is checked on its own."""
        if templates:
            if self._fast_templated is False:
                self._fast_templated = _fast_check(self.schema, self._formats, templated=True)
            fast = self._fast_templated
            if fast is None:
                return False  # jsonschema decides, through problems_for's `ignore`
        else:
            if self._fast is False:
                self._fast = _fast_check(self.schema, self._formats, templated=False)
            fast = self._fast
            if fast is None:
                return next(iter(self.explainer().iter_errors(doc)), None) is None
        try:
            fast(doc)
        except Exception:  # noqa: BLE001 — invalid, or a value it cannot judge: jsonschema decides
            return False
        return True

    def iter_errors(self, doc: Any) -> Iterable["jsonschema.ValidationError"]:
        if self.is_valid(doc):
            return iter(())
        return self.explainer().iter_errors(doc)

    def explainer(self) -> Any:
        """The jsonschema validator (imported and built on first use)."""
        if self._full is None:
            from jsonschema import Draft202012Validator
            if self._check_schema:
                Draft202012Validator.check_schema(self.schema)
            self._full = Draft202012Validator(
                self.schema, format_checker=Draft202012Validator.FORMAT_CHECKER if self._formats else None)
        return self._full


def check_key(schema: Any, formats: bool, templated: bool) -> str:
    """What identifies a generated check: the schema's content and the options it was generated with."""
    text = json.dumps([schema, formats, templated], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fast_check(schema: dict, formats: bool, *, templated: bool) -> Callable[[Any], Any] | None:
    """The check fastjsonschema generates for `schema` (with `templated`, its template-tolerant form): ahead
    of time for the schemas shipped here (engine/_schema_checks/, by `python -m engine.schemagen`), else
    now (~1-30 ms a schema); None when it cannot be made and jsonschema must decide."""
    key = check_key(schema, formats, templated)
    try:
        from ._schema_checks import MODULES
        if key in MODULES:
            return importlib.import_module(f"._schema_checks.{MODULES[key]}", __package__).check
    except ImportError:
        pass
    target = template_tolerant(schema) if templated else schema
    return None if target is None else compile_fast(target, formats)


def compile_fast(schema: dict, formats: bool) -> Callable[[Any], Any] | None:
    """fastjsonschema's check for `schema`, or None (not installed, or it cannot compile this schema)."""
    # fastjsonschema is at least as strict as jsonschema on the schemas used here (it reads `$` in patterns
    # as end-of-string; tests/core/test_schema_fast.py compares the two), so it never accepts what jsonschema
    # refuses; a document it refuses is judged again by jsonschema. use_default=False: by default its code
    # fills `default` values into the document it checks.
    draft7 = as_draft7(schema)
    if draft7 is None:
        return None
    try:
        import fastjsonschema
        return fastjsonschema.compile(draft7, use_default=False, use_formats=formats)
    except Exception:  # noqa: BLE001 — jsonschema alone is still right
        return None


# 2019-09/2020-12 keywords fastjsonschema (draft 7) would silently ignore, accepting what they refuse.
_NOT_IN_DRAFT7 = {"prefixItems", "unevaluatedProperties", "unevaluatedItems", "minContains", "maxContains",
                  "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$anchor"}


def as_draft7(schema: Any) -> Any:
    """`schema` in draft-7 terms for fastjsonschema (dependentRequired and dependentSchemas become
    `dependencies`), or None when it uses a later keyword draft 7 has no equal for (jsonschema decides)."""
    if isinstance(schema, list):
        items = [as_draft7(s) for s in schema]
        return None if any(i is None and s is not None for i, s in zip(items, schema)) else items
    if not isinstance(schema, dict):
        return schema
    if any(k in _NOT_IN_DRAFT7 for k in schema):
        return None
    out: dict = {}
    for key, value in schema.items():
        converted = as_draft7(value)
        if converted is None and value is not None:
            return None
        if key in ("dependentRequired", "dependentSchemas"):
            if not isinstance(converted, dict):
                return None
            out.setdefault("dependencies", {}).update(converted)
        else:
            out[key] = converted
    return out


_TEMPLATE = {"type": "string", "pattern": r"\{\{|\{%"}
# Keywords whose subschemas judge one value on its own: there a template string may stand in for the value,
# exactly as problems_for's `ignore=is_template` drops errors whose instance is a template. Under any other
# keyword (oneOf, not, if, contains...) an error is reported about the enclosing value, so nothing is relaxed.
_PER_VALUE = ("properties", "patternProperties")
_UNSUPPORTED = ("$ref", "$dynamicRef", "unevaluatedProperties", "unevaluatedItems")


def template_tolerant(schema: Any) -> Any:
    """`schema` with every per-value subschema S reachable through properties/items made `anyOf: [S, template]`;
    None when the schema uses keywords this rewrite does not follow."""
    if isinstance(schema, bool):
        return schema
    if not isinstance(schema, dict) or any(k in schema for k in _UNSUPPORTED):
        return None
    out = dict(schema)
    for key in _PER_VALUE:
        if isinstance(schema.get(key), dict):
            subs = {}
            for name, sub in schema[key].items():
                relaxed = template_tolerant(sub)
                if relaxed is None:
                    return None
                subs[name] = {"anyOf": [relaxed, _TEMPLATE]}
            out[key] = subs
    for key in ("additionalProperties", "items"):
        if isinstance(schema.get(key), dict):
            relaxed = template_tolerant(schema[key])
            if relaxed is None:
                return None
            out[key] = {"anyOf": [relaxed, _TEMPLATE]}
    if isinstance(schema.get("prefixItems"), list):
        items = [template_tolerant(sub) for sub in schema["prefixItems"]]
        if any(i is None for i in items):
            return None
        out["prefixItems"] = [{"anyOf": [i, _TEMPLATE]} for i in items]
    return out


@lru_cache(maxsize=None)
def _playbook_validator() -> Checker:
    return Checker(playbook_schema())


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


def step_id_at(doc: Any, path: list[Any]) -> str | None:
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


BOOLEAN_HINT = ("YAML reads unquoted yes/no/on/off/true/false as a boolean: if a name was meant, quote it "
                "(\"no\")")


def _hint(error: "jsonschema.ValidationError") -> str | None:
    v, val = error.validator, error.validator_value
    if isinstance(error.instance, dict) and any(isinstance(k, bool) for k in error.instance) and v in (
            "additionalProperties", "propertyNames"):
        return BOOLEAN_HINT
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
    if v == "type" and isinstance(error.instance, bool) and "string" in (val if isinstance(val, list) else [val]):
        return BOOLEAN_HINT
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


def _message(error: "jsonschema.ValidationError") -> str:
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
        from jsonschema.exceptions import best_match
        best = best_match(error.context)
        return best.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = error.schema.get("properties", {})
        extras = [k for k in error.instance if k not in allowed]
        return f"unknown key{'s' if len(extras) > 1 else ''} {', '.join(_key_text(e) for e in extras)}"
    return error.message


def _key_text(key: Any) -> str:
    """A mapping key as written: a YAML boolean key (`on:`, `no:`) is named as the boolean it was read as."""
    return f"{key!r} (the boolean {str(key).lower()})" if isinstance(key, bool) else repr(key)


def problems_for(doc: Any, validator: Checker, *, file: str, prefix: tuple = (),
                 base_doc: Any = None, templates: bool = False) -> list[Problem]:
    """Every schema error of `doc`, located in `base_doc` (the whole file) through `prefix`.

    With `templates`, errors about template strings are dropped: they cannot be judged until rendered.
    """
    if validator.is_valid(doc, templates=templates):
        return []
    ignore = is_template if templates else None
    base = base_doc if base_doc is not None else doc
    out = []
    for error in sorted(validator.explainer().iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        if ignore is not None and ignore(error.instance):
            continue
        path = list(prefix) + list(error.absolute_path)
        located = path
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            extras = [k for k in error.instance if k not in error.schema.get("properties", {})]
            located = path + extras[:1]  # point at the offending key's line
        out.append(Problem(f"{dotted(path)}: {_message(error)}", file=file, line=line_at(base, located),
                           step=step_id_at(base, path), hint=_hint(error)))
    return out


def validate_playbook_document(doc: Any, file: str) -> list[Problem]:
    """Schema problems of a loaded playbook document, in file order."""
    problems = problems_for(doc, _playbook_validator(), file=file)
    problems.sort(key=lambda p: p.line or 0)
    return problems


# Plugin schemas are class attributes: check and build each once, not once per step (check_schema costs ms).
# Keyed by id() with the schema kept alive beside its checker, so an id is never reused for another dict.
_VALIDATORS: dict[int, tuple[dict, Checker]] = {}


# The schemas of the plugins shipped in this package are checked against the metaschema by the test suite
# (tests/core/test_plugin_schemas.py); checking them again in every process costs ~40 ms each (the 2020-12
# metaschema is slow to apply), a quarter of a second on every `validate` and `run`.
_TRUSTED: dict[int, dict] = {}


def trust_schema(schema: dict) -> None:
    """Skip the metaschema check of `schema`: a built-in plugin's, which the tests check."""
    _TRUSTED[id(schema)] = schema


def validator_for(schema: dict) -> Checker:
    """A validator for a plugin's `with` schema (checked itself first: a bad plugin schema is a bug)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    checker = Checker(schema, check_schema=_TRUSTED.get(id(schema)) is not schema)
    _VALIDATORS[id(schema)] = (schema, checker)
    return checker

