"""Resolving inputs: `--var`, `--vars-file` and declared defaults, checked with JSON Schema before anything runs."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable


from .errors import InputError, LoadError, Problem, UsageError
from .loader import LineMap, load_yaml_file, load_yaml_text
from .masking import Masker, url_password
from .model import Playbook
from .schema import BOOLEAN_HINT, Checker


def parse_var(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` with VALUE read as a YAML scalar or flow value, else kept as a plain string."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UsageError(f"--var {text!r} is not KEY=VALUE", hint="e.g. --var rev=1-20-0")
    try:
        # The same bounds as files (size, nesting, aliases): a value on the command line is no more trusted.
        value = load_yaml_text(raw, f"--var {key}") if raw.strip() else raw
    except LoadError as err:
        message = err.problems[0].message
        if not message.startswith(("invalid YAML", "control character")):  # too big or deep: not mere text
            raise UsageError(f"--var {key}: {message}", hint=err.problems[0].hint) from None
        value = raw
    # A YAML document that parses to something surprising (a mapping from "a: b", a tag) is still only
    # meant as text unless it is a flow collection the user clearly wrote.
    if isinstance(value, dict) and not raw.lstrip().startswith("{"):
        value = raw
    if value is None and raw.strip() not in ("null", "~"):
        value = raw
    return key, value


def parse_vars(pairs: tuple[str, ...] | list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each `--var KEY=VALUE`: the parsed values, and the text as typed (string inputs keep it)."""
    values, raw = {}, {}
    for pair in pairs:
        key, value = parse_var(pair)
        values[key] = value
        raw[key] = pair.partition("=")[2]
    return values, raw


@dataclass
class ResolvedInputs:
    """Input values after merging and checking, and the names of those to mask."""

    values: dict[str, Any]
    secrets: set[str] = field(default_factory=set)
    undeclared: list[str] = field(default_factory=list)

    _masker: Masker | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def masker(self) -> Masker:
        """The masker of these secrets (every leaf, common encodings); built on first use."""
        if self._masker is None:
            secrets = [self.values.get(n) for n in sorted(self.secrets)]
            # A password written into a URL (`https://user:pass@host/hook`) is a secret whatever the input.
            secrets += [url_password(v) for v in self.values.values() if isinstance(v, str) and "@" in v]
            self._masker = Masker(secrets)
        return self._masker

    def mask(self, text: str) -> str:
        """`text` with every form of every secret value replaced by ***."""
        return self.masker.mask(text)

    def mask_data(self, value: Any) -> Any:
        """`value` with secrets masked in every string inside it."""
        return self.masker.mask_data(value)


def read_vars_files(paths: Iterable[str | Path]) -> dict[str, Any]:
    """Merge vars files in order; each must be a YAML mapping."""
    merged: dict[str, Any] = {}
    for path in paths:
        data = load_yaml_file(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise UsageError("a vars file must be a YAML mapping of names to values", file=str(path))
        bad = [k for k in data if not isinstance(k, str)]
        if bad:
            key = bad[0]
            line = data.line_of(key) if isinstance(data, LineMap) else None
            hint = BOOLEAN_HINT if isinstance(key, bool) else "input names are text: quote it"
            raise UsageError(f"key {key!r} is a {type(key).__name__}, not an input name", file=str(path),
                             line=line, hint=hint)
        merged.update(data)
    return merged


def resolve_inputs(playbook: Playbook, cli_vars: dict[str, Any], file_vars: dict[str, Any] | None = None,
                   cli_raw: dict[str, str] | None = None) -> ResolvedInputs:
    """Merge (--var beats --vars-file beats defaults) and check; every problem is reported at once.

    `cli_raw` holds the text of each --var: an input declared as a string gets that text, so
    `--var rev=120` or `--var version=1.20` stay the strings the user typed.
    """
    given = {**(file_vars or {}), **cli_vars}
    for name, raw in (cli_raw or {}).items():
        spec = playbook.inputs.get(name)
        if spec is not None and spec.schema.get("type") == "string" and name in cli_vars:
            given[name] = raw
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    file = playbook.file
    for name, spec in playbook.inputs.items():
        if name in given:
            values[name] = given[name]
        elif spec.has_default:
            values[name] = spec.default
        elif spec.required:
            desc = f": {spec.description}" if spec.description else ""
            problems.append(Problem(f"input '{name}' is required{desc}", file=file, line=spec.line,
                                    hint=f"pass --var {name}=VALUE"))
    for name, value in values.items():
        spec = playbook.inputs[name]
        if _has_nul(value):
            problems.append(Problem(f"input '{name}' holds a NUL character (\\0)", file=file, line=spec.line,
                                    hint="no program argument or name can hold one"))
            continue
        if value is None and not spec.required:
            continue
        for err in Checker(spec.schema, formats=False).iter_errors(value):
            where = "".join(f"[{p!r}]" for p in err.absolute_path)
            problems.append(Problem(f"input '{name}{where}' = {_show(value, spec.secret)}: {_reason(err, spec.secret)}",
                                    file=file, line=spec.line))
    undeclared = [k for k in given if k not in playbook.inputs]
    if playbook.inputs:
        for name in undeclared:
            close = difflib.get_close_matches(name, list(playbook.inputs), n=1)
            if close and close[0] not in given:
                problems.append(Problem(f"--var '{name}' is not an input of this playbook", file=file,
                                        hint=f"did you mean '{close[0]}'?"))
    if problems:
        raise InputError(problems=problems)
    for name in undeclared:
        values[name] = given[name]
    return ResolvedInputs(values=values, secrets={n for n, s in playbook.inputs.items() if s.secret},
                          undeclared=undeclared)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _show(value: Any, secret: bool) -> str:
    return "***" if secret else repr(value)


def _reason(err: Any, secret: bool) -> str:
    if err.validator == "type" and isinstance(err.instance, bool) and err.validator_value == "string":
        return f"must be of type string ({BOOLEAN_HINT})"
    if err.validator == "type":
        return f"must be of type {err.validator_value}"
    if err.validator == "pattern":
        return f"must match {err.validator_value}"
    if err.validator == "enum":
        return "must be one of " + ", ".join(map(repr, err.validator_value))
    return "is invalid" if secret else err.message
