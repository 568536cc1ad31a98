"""The validated playbook as dataclasses: what the loader and schema hand to the graph and runner."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .durations import parse_duration
from .errors import LoadError, Problem, ValidationError
from .loader import LineMap, load_yaml_file
from .schema import validate_playbook_document


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


def _action(raw: LineMap) -> Action:
    timeout = parse_duration(raw["timeout"]) if "timeout" in raw else None
    return Action(uses=raw["uses"], args=raw.get("with") or {}, line=getattr(raw, "line", None), timeout=timeout)


def _step(raw: LineMap, defaults: dict, inherited_timeout: float | None) -> StepSpec:
    needs = raw.get("needs", ())
    timeout = parse_duration(raw["timeout"]) if "timeout" in raw else inherited_timeout
    spec = StepSpec(
        id=raw["id"], line=getattr(raw, "line", None), uses=raw.get("uses"), args=raw.get("with") or {},
        name=raw.get("name"), needs=(needs,) if isinstance(needs, str) else tuple(needs),
        when=raw.get("when"), for_each=raw.get("for_each"), serial=bool(raw.get("serial", False)),
        timeout=timeout,
        retries=int(raw.get("retries", defaults.get("retries", 0))),
        delay=parse_duration(raw.get("delay", defaults.get("delay", 1))),
        backoff=float(raw.get("backoff", defaults.get("backoff", 1))),
        until=raw.get("until"), rollback=_action(raw["rollback"]) if "rollback" in raw else None,
        continue_on_error=bool(raw.get("continue_on_error", False)), confirm=raw.get("confirm"),
        tags=tuple(raw.get("tags", ())), raw=raw)
    if "steps" in raw:
        # A group's timeout is the default of its inner steps.
        spec.steps = [_step(s, defaults, timeout) for s in raw["steps"]]
    return spec


def build_playbook(doc: Any, path: Path) -> Playbook:
    """Schema-check a loaded document and build the model; all schema problems are reported at once."""
    file = str(path)
    if not isinstance(doc, dict):
        raise ValidationError("a playbook is a YAML mapping with `version` and `steps`", file=file, line=1,
                              hint="start from docs/authoring.md")
    problems = validate_playbook_document(doc, file)
    if problems:
        raise ValidationError(problems=problems)
    defaults = doc.get("defaults") or {}
    default_timeout = parse_duration(defaults["timeout"]) if "timeout" in defaults else None
    inputs = {name: _input(name, raw) for name, raw in (doc.get("inputs") or {}).items()}
    clashes = [Problem(f"var '{n}' has the name of an input", file=file, line=doc["vars"].line_of(n),
                       hint="rename one of them")
               for n in (doc.get("vars") or {}) if n in inputs]
    if clashes:
        raise ValidationError(problems=clashes)
    return Playbook(path=path, name=doc.get("name") or path.stem, description=doc.get("description", ""),
                    inputs=inputs, vars=dict(doc.get("vars") or {}),
                    steps=[_step(s, defaults, default_timeout) for s in doc["steps"]], doc=doc)


def load_playbook(path: str | Path) -> Playbook:
    """Load a playbook file: YAML (bounded), schema, model."""
    path = Path(path)
    doc = load_yaml_file(path)
    if doc is None:
        raise LoadError("the file is empty", file=str(path), hint="a playbook needs `version: 1` and `steps`")
    return build_playbook(doc, path)
