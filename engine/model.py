"""The validated playbook as dataclasses: what the loader and schema hand to the graph and runner."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durations import MAX_SECONDS, parse_duration
from .errors import LoadError, Problem, ValidationError
from . import parse_cache
from .loader import LineMap, load_yaml_text, read_text_bounded
from .schema import BOOLEAN_HINT, dotted, line_at, step_id_at, validate_playbook_document


@dataclass(frozen=True)
class Action:
    """A plugin call: used for rollback actions (and natural rollbacks that plugins propose)."""

    uses: str
    args: dict
    line: int | None = None
    timeout: float | None = None


@dataclass
class InputSpec:
    """A declared input; `schema` is the JSON Schema its value must satisfy."""

    name: str
    schema: dict
    required: bool = False
    has_default: bool = False
    default: Any = None
    secret: bool = False
    description: str = ""
    line: int | None = None


@dataclass
class StepSpec:
    """One step as written: a plugin call (`uses`) or a group (`steps`)."""

    id: str
    line: int | None
    uses: str | None = None
    args: dict = field(default_factory=dict)
    steps: list["StepSpec"] | None = None
    name: str | None = None
    needs: tuple[str, ...] = ()
    when: Any = None
    for_each: Any = None
    serial: bool = False
    timeout: float | None = None
    retries: int = 0
    delay: float = 1.0
    backoff: float = 1.0
    until: Any = None
    rollback: Action | None = None
    continue_on_error: bool = False
    confirm: str | None = None
    tags: tuple[str, ...] = ()
    raw: Any = None  # the LineMap it came from, for locating plugin-argument errors

    @property
    def is_group(self) -> bool:
        return self.steps is not None

    def arg_line(self, *path: Any) -> int | None:
        """Line of a value inside `with`, for messages about plugin arguments."""
        from .schema import line_at
        return line_at(self.raw, ("with",) + path) if self.raw is not None else self.line


@dataclass
class Playbook:
    """A loaded, schema-valid playbook."""

    path: Path
    name: str
    description: str
    inputs: dict[str, InputSpec]
    vars: dict[str, Any]
    steps: list[StepSpec]
    doc: Any = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def file(self) -> str:
        return str(self.path)


_INPUT_OWN_KEYS = {"required", "default", "secret", "description"}


def _input(name: str, raw: LineMap) -> InputSpec:
    schema = {k: v for k, v in raw.items() if k not in _INPUT_OWN_KEYS}
    return InputSpec(name=name, schema=schema, required=bool(raw.get("required", False)),
                     has_default="default" in raw, default=raw.get("default"),
                     secret=bool(raw.get("secret", False)), description=raw.get("description", ""),
                     line=getattr(raw, "line", None))


class _Durations:
    """Reads durations out of the document, collecting a located problem for each bad one."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def read(self, raw: Any, key: str, default: Any = None, step: str | None = None) -> float | None:
        value = raw.get(key, default) if isinstance(raw, dict) else default
        if value is None:
            return None
        try:
            return parse_duration(value)
        except ValueError as err:
            line = raw.line_of(key) if isinstance(raw, LineMap) and key in raw else getattr(raw, "line", None)
            self.problems.append(Problem(f"{key}: {err}", file=self.file, line=line, step=step,
                                         hint="write e.g. 30s, 5m, 1h30m or a number of seconds"))
            return 0.0

    def check_retries(self, spec: "StepSpec", raw: LineMap) -> None:
        """The longest wait between retries (delay * backoff ** (retries - 1)) must stay a usable duration."""
        if spec.retries < 1 or spec.delay <= 0:
            return
        if not math.isfinite(spec.backoff):
            longest = math.inf
        else:
            longest = math.exp(min(700.0, math.log(spec.delay) + (spec.retries - 1) * math.log(spec.backoff)))
        if longest > MAX_SECONDS:
            key = "backoff" if "backoff" in raw else "delay" if "delay" in raw else "retries"
            self.problems.append(Problem(
                f"{key}: the wait before retry {spec.retries} grows to delay * backoff ** {spec.retries - 1}, "
                f"longer than the {MAX_SECONDS // 86400} days allowed", file=self.file,
                line=raw.line_of(key), step=spec.id, hint="lower backoff, delay or retries"))


def _action(raw: LineMap, durations: _Durations, step: str | None) -> Action:
    return Action(uses=raw["uses"], args=raw.get("with") or {}, line=getattr(raw, "line", None),
                  timeout=durations.read(raw, "timeout", step=step))


def _step(raw: LineMap, defaults: dict, inherited_timeout: float | None, durations: _Durations) -> StepSpec:
    """`defaults` holds the parsed `timeout` and `delay` of the playbook's defaults, and its retries and backoff."""
    needs = raw.get("needs", ())
    timeout = durations.read(raw, "timeout", step=raw["id"]) if "timeout" in raw else inherited_timeout
    spec = StepSpec(
        id=raw["id"], line=getattr(raw, "line", None), uses=raw.get("uses"), args=raw.get("with") or {},
        name=raw.get("name"), needs=(needs,) if isinstance(needs, str) else tuple(needs),
        when=raw.get("when"), for_each=raw.get("for_each"), serial=bool(raw.get("serial", False)),
        timeout=timeout,
        retries=int(raw.get("retries", defaults.get("retries", 0))),
        delay=durations.read(raw, "delay", step=raw["id"]) if "delay" in raw else defaults["delay"],
        backoff=float(raw.get("backoff", defaults.get("backoff", 1))),
        until=raw.get("until"),
        rollback=_action(raw["rollback"], durations, raw["id"]) if "rollback" in raw else None,
        continue_on_error=bool(raw.get("continue_on_error", False)), confirm=raw.get("confirm"),
        tags=tuple(raw.get("tags", ())), raw=raw)
    if spec.uses:
        durations.check_retries(spec, raw)
    if "steps" in raw:
        # A group's timeout is the default of its inner steps.
        spec.steps = [_step(s, defaults, timeout, durations) for s in raw["steps"]]
    return spec


def _boolean_names(inputs: dict[str, InputSpec], file: str) -> list[Problem]:
    """A string input whose `enum` or `default` YAML read as a boolean (`enum: [on, off]`)."""
    out = []
    for spec in inputs.values():
        if spec.schema.get("type") != "string":
            continue
        values = list(spec.schema.get("enum") or []) + ([spec.default] if spec.has_default else [])
        booleans = [v for v in values if isinstance(v, bool)]
        if booleans:
            out.append(Problem(f"input '{spec.name}' is a string, but YAML read {str(booleans[0]).lower()} "
                               f"(written on/off/yes/no?) in its enum or default as a boolean", file=file,
                               line=spec.line, hint=BOOLEAN_HINT))
    return out


def _nul_problems(doc: Any, file: str) -> list[Problem]:
    """A NUL in any string: no program argument, file name or Kubernetes name can hold one."""
    out: list[Problem] = []
    todo: list[tuple[Any, tuple]] = [(doc, ())]
    while todo:
        node, path = todo.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            if isinstance(value, str) and "\0" in value:
                out.append(Problem(f"{dotted(path + (key,))}: a NUL character (\\0) in a value", file=file,
                                   line=line_at(doc, path + (key,)), step=step_id_at(doc, list(path + (key,))),
                                   hint="no program argument or name can hold one: remove it"))
            elif isinstance(value, (dict, list)):
                todo.append((value, path + (key,)))
    return sorted(out, key=lambda p: p.line or 0)


# The only ways a NUL reaches a parsed string: YAML refuses the character itself, so it must be escaped in a
# double-quoted scalar. A text without any of these cannot hold one (a text with them is walked, to be sure).
_NUL_ESCAPES = ("\\0", "\\x00", "\\u0000", "\\U00000000")


def build_playbook(doc: Any, path: Path, *, checked: bool = False, text: str | None = None) -> Playbook:
    """Schema-check a loaded document and build the model; all schema problems are reported at once.

    `checked`: the document came from the parse cache, which holds only documents that passed these checks.
    `text`: the file's text, when known: without a NUL escape in it, the walk for NUL characters is spared."""
    file = str(path)
    if not isinstance(doc, dict):
        raise ValidationError("a playbook is a YAML mapping with `version` and `steps`", file=file, line=1,
                              hint="start from docs/authoring.md")
    nul_free = checked or (text is not None and not any(escape in text for escape in _NUL_ESCAPES))
    problems = [] if checked else validate_playbook_document(doc, file)
    problems += [] if nul_free else _nul_problems(doc, file)
    if problems:
        raise ValidationError(problems=problems)
    durations = _Durations(file)
    written = doc.get("defaults") or {}
    default_timeout = durations.read(written, "timeout")
    defaults = {**written, "delay": durations.read(written, "delay", 1)}
    inputs = {name: _input(name, raw) for name, raw in (doc.get("inputs") or {}).items()}
    clashes = [Problem(f"var '{n}' has the name of an input", file=file, line=doc["vars"].line_of(n),
                       hint="rename one of them")
               for n in (doc.get("vars") or {}) if n in inputs]
    clashes += _boolean_names(inputs, file)
    if clashes:
        raise ValidationError(problems=clashes)
    steps = [_step(s, defaults, default_timeout, durations) for s in doc["steps"]]
    if durations.problems:
        raise ValidationError(problems=sorted(durations.problems, key=lambda p: p.line or 0))
    return Playbook(path=path, name=doc.get("name") or path.stem, description=doc.get("description", ""),
                    inputs=inputs, vars=dict(doc.get("vars") or {}), steps=steps, doc=doc)


def load_playbook(path: str | Path) -> Playbook:
    """Load a playbook file: YAML (bounded), schema, model."""
    path = Path(path)
    text = read_text_bounded(path)
    doc = parse_cache.lookup(text)
    if doc is not None:
        return build_playbook(doc, path, checked=True)
    doc = load_yaml_text(text, str(path))
    if doc is None:
        raise LoadError("the file is empty", file=str(path), hint="a playbook needs `version: 1` and `steps`")
    playbook = build_playbook(doc, path, text=text)
    parse_cache.store(text, doc)  # only now: the cache holds documents that passed every check above
    return playbook
