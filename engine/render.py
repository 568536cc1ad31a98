"""Jinja2 rendering in a sandbox with StrictUndefined: templates, guard expressions, template files.

A value given on the command line reaches templates as data: rendering `{{ rev }}` yields rev's value
and that output is never rendered again, so `--var 'rev={{ 7*7 }}'` stays the literal text.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, Iterator

import yaml
from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, UndefinedError, meta, nodes, pass_context
from jinja2.exceptions import SecurityError
from jinja2.utils import consume

from .errors import LoadError, TemplateError
from .loader import read_text_bounded
from .render_budget import MAX_CHARS, BudgetedSandbox, RenderBudgetError

_WHOLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*?)\}\}\s*$", re.DOTALL)
RUNTIME_NAMES = frozenset({"steps", "item", "loop_index"})


class Placeholder:
    """Stands for a value that exists only at run time; prints as `<steps.backup.stdout>` in plans."""

    def __init__(self, path: str) -> None:
        self._path = path

    def __getattr__(self, name: str) -> "Placeholder":
        if name.startswith("_"):
            raise AttributeError(name)
        return Placeholder(f"{self._path}.{name}")

    def __getitem__(self, key: Any) -> "Placeholder":
        return Placeholder(f"{self._path}.{key}" if isinstance(key, str) else f"{self._path}[{key!r}]")

    def __call__(self, *args: Any, **kwargs: Any) -> "Placeholder":
        inner = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        return Placeholder(f"{self._path}({inner})")

    def __str__(self) -> str:
        return f"<{self._path}>"

    __repr__ = __str__

    # Plans must not show made-up values: anything that needs the real value fails, and the caller
    # shows the template text as a placeholder instead.
    def __iter__(self) -> Iterator[Any]:
        raise TypeError(f"{self} is known only at run time")

    def __len__(self) -> int:
        raise TypeError(f"{self} is known only at run time")

    def _unknown(self, *args: Any) -> Any:
        raise TypeError(f"{self} is known only at run time")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __add__ = __contains__ = _unknown
    __hash__ = object.__hash__


def is_placeholder(value: Any) -> bool:
    return isinstance(value, Placeholder) or (isinstance(value, str) and value.startswith("<") and value.endswith(">"))


class Scope(Mapping):
    """The names a template sees: locals, step results, inputs, lazily rendered vars, helpers."""

    def __init__(self, renderer: "Renderer", *, inputs: Mapping[str, Any], var_templates: Mapping[str, Any],
                 steps: Any = None, locals: Mapping[str, Any] | None = None,
                 helpers: Mapping[str, Any] | None = None) -> None:
        self._renderer = renderer
        self._inputs = inputs
        self._var_templates = var_templates
        self._steps = steps
        self._locals = dict(locals or {})
        self._helpers = helpers or {}
        self._var_cache: dict[str, Any] = {}
        self._var_active: list[str] = []

    def child(self, **locals: Any) -> "Scope":
        """The same scope with more local names (e.g. `item`)."""
        return Scope(self._renderer, inputs=self._inputs, var_templates=self._var_templates, steps=self._steps,
                     locals={**self._locals, **locals}, helpers=self._helpers)

    def with_steps(self, steps: Any) -> "Scope":
        return Scope(self._renderer, inputs=self._inputs, var_templates=self._var_templates, steps=steps,
                     locals=self._locals, helpers=self._helpers)

    def _var(self, name: str) -> Any:
        if name in self._var_cache:
            return self._var_cache[name]
        if name in self._var_active:
            cycle = " -> ".join(self._var_active[self._var_active.index(name):] + [name])
            raise TemplateError(f"vars refer to each other in a cycle: {cycle}")
        self._var_active.append(name)
        try:
            value = self._renderer.render(self._var_templates[name], self)
        finally:
            self._var_active.pop()
        self._var_cache[name] = value
        return value

    def __getitem__(self, key: str) -> Any:
        if key in self._locals:
            return self._locals[key]
        if key == "steps" and self._steps is not None:
            return self._steps
        if key in self._inputs:
            return self._inputs[key]
        if key in self._var_templates:
            return self._var(key)
        if key in self._helpers:
            return self._helpers[key]
        return self._renderer.env.globals[key]

    def __contains__(self, key: object) -> bool:
        return (key in self._locals or (key == "steps" and self._steps is not None) or key in self._inputs
                or key in self._var_templates or key in self._helpers or key in self._renderer.env.globals)

    def __iter__(self) -> Iterator[str]:
        seen = dict.fromkeys([*self._locals, *(["steps"] if self._steps is not None else []), *self._inputs,
                              *self._var_templates, *self._helpers, *self._renderer.env.globals])
        return iter(seen)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def names(self) -> set[str]:
        return set(self)


def _regex_replace(value: str, pattern: str, repl: str) -> str:
    return re.sub(pattern, repl, str(value))


def _regex_search(value: str, pattern: str) -> str | None:
    m = re.search(pattern, str(value))
    return m.group(0) if m else None


def _guarded_names(ast: nodes.Node) -> set[str]:
    """Names used under `| default(...)` or tested with `is defined`: they may be left unset."""
    out = set()
    for node in ast.find_all((nodes.Filter, nodes.Test)):
        if isinstance(node.node, nodes.Name) and node.name in ("default", "d", "defined", "undefined"):
            out.add(node.node.name)
    return out


class _Environment(BudgetedSandbox):
    """The sandbox, where a mapping's key wins over a method of the same name.

    `steps.get` is the step `get`, not `dict.get`, and `(kubectl JSON).items` the list of items, not
    `dict.items`; Jinja's default tries the attribute first, so such names could not be read with a dot.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, Mapping) and isinstance(attribute, str):
            try:
                return obj[attribute]
            except (KeyError, TypeError):
                pass
        return super().getattr(obj, attribute)


class Renderer:
    """Renders strings, structures and guard expressions; template files are read relative to `base_dir`."""

    def __init__(self, base_dir: Path, out_dir: Path | None = None, *, placeholders: bool = False) -> None:
        self.base_dir = base_dir
        self.out_dir = out_dir
        # In a dry run, what cannot be known yet renders as a placeholder instead of failing.
        self.placeholders = placeholders
        self.rendered_files: list[Path] = []
        env = _Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        env.filters.update({
            "to_json": lambda v, indent=None: json.dumps(v, indent=indent, default=str),
            "to_yaml": lambda v: yaml.safe_dump(v, default_flow_style=False, sort_keys=False),
            "from_json": json.loads,
            "from_yaml": yaml.safe_load,
            "b64encode": lambda v: base64.b64encode(str(v).encode()).decode(),
            "b64decode": lambda v: base64.b64decode(str(v)).decode(),
            "basename": lambda v: Path(str(v)).name,
            "dirname": lambda v: str(Path(str(v)).parent),
            "regex_replace": _regex_replace,
            "regex_search": _regex_search,
            "shell_quote": lambda v: shlex.quote(str(v)),
        })
        env.globals.update({"template_file": self._template_file, "template": self._template_text})
        self.env = env
        self._templates: dict[str, Any] = {}
        self._exprs: dict[str, Any] = {}
        self._syntax: dict[tuple[str, bool], frozenset[str] | str] = {}  # check_syntax: names, or the error
        self._asts: dict[tuple[str, bool], nodes.Template] = {}  # check_syntax and lint read the same trees
        self._memo: dict[str, Any] | None = None  # plans only: see remember_fixed
        self._varying: frozenset[str] = frozenset()

    # -- compiling ---------------------------------------------------------------------------------

    def _template(self, text: str):
        tmpl = self._templates.get(text)
        if tmpl is None:
            try:
                tmpl = self.env.from_string(text)
            except TemplateSyntaxError as err:
                raise TemplateError(f"template syntax error: {err.message} in {text!r}") from None
            self._templates[text] = tmpl
        return tmpl

    def _expression(self, text: str):
        compiled = self._exprs.get(text)
        if compiled is None:
            try:
                compiled = self.env.compile_expression(text, undefined_to_none=False)
            except TemplateSyntaxError as err:
                raise TemplateError(f"expression syntax error: {err.message} in {text!r}") from None
            self._exprs[text] = compiled
        return compiled

    @staticmethod
    def whole_expression(text: str) -> str | None:
        """The inner expression when `text` is exactly one `{{ ... }}`, else None."""
        m = _WHOLE_EXPR.match(text)
        if m and "{{" not in m.group("expr") and "}}" not in m.group("expr") and "{%" not in text:
            return m.group("expr")
        return None

    @staticmethod
    def bare(expr: str) -> str:
        """Guards may be written bare (`rev != old`) or wrapped (`{{ rev != old }}`)."""
        inner = Renderer.whole_expression(expr)
        return inner if inner is not None else expr

    def _parse(self, text: str, expression: bool) -> nodes.Template:
        """Jinja's syntax tree of one text (an expression is parsed as `{{ (expr) }}`); raises TemplateSyntaxError."""
        key = (text, expression)
        ast = self._asts.get(key)
        if ast is None:
            ast = self._asts[key] = self.env.parse("{{ (" + self.bare(text) + ") }}" if expression else text)
        return ast

    def parsed(self, text: str, expression: bool = False) -> nodes.Template | None:
        """The syntax tree of `text`, parsed once for every check that reads it; None when it does not parse
        (check_syntax says why)."""
        try:
            return self._parse(text, expression)
        except TemplateSyntaxError:
            return None

    def check_syntax(self, value: Any, *, expression: bool = False) -> set[str]:
        """Parse every template in `value`; returns the top-level names they use."""
        names: set[str] = set()
        if isinstance(value, str):
            if not expression and "{" not in value:
                return names  # plain text: no Jinja syntax can start without "{"
            # Large playbooks repeat the same templates: parse each text once.
            known = self._syntax.get((value, expression))
            if known is None:
                try:
                    ast = self._parse(value, expression)
                    known = frozenset(meta.find_undeclared_variables(ast) - _guarded_names(ast))
                except TemplateSyntaxError as err:
                    kind = "expression" if expression else "template"
                    known = f"{kind} syntax error: {err.message} in {value!r}"
                self._syntax[(value, expression)] = known
            if isinstance(known, str):
                raise TemplateError(known)
            names |= known
        elif isinstance(value, Mapping):
            for v in value.values():
                names |= self.check_syntax(v, expression=expression)
        elif isinstance(value, list):
            for v in value:
                names |= self.check_syntax(v, expression=expression)
        return names

    def remember_fixed(self, varying: frozenset[str]) -> None:
        """For rendering a plan: a template text that uses none of `varying` (step results, `item`, the vars
        that read them) has one value for the whole plan, so it is rendered once and its value reused. A
        10,000-step plan repeats `{{ rev }}` tens of thousands of times."""
        self._memo, self._varying = {}, varying | RUNTIME_NAMES

    # -- rendering ---------------------------------------------------------------------------------

    def budget(self, deadline: float | None = None):
        """Context manager: renders in this thread inside it stop at `deadline` (time.time(), e.g. a step's)."""
        return self.env.budget(deadline)

    def _run(self, tmpl, scope: Scope) -> str:
        ctx = tmpl.new_context(scope, shared=True)
        parts, size = [], 0
        for part in tmpl.root_render_func(ctx):
            size += len(part)
            self.env.check_size(size, "a rendered text")
            self.env.check_time()
            parts.append(part)
        return "".join(parts)

    def _eval(self, compiled, scope: Scope) -> Any:
        tmpl = compiled._template  # compile_expression's wrapper forces a dict copy; we keep vars lazy
        ctx = tmpl.new_context(scope, shared=True)
        consume(tmpl.root_render_func(ctx))
        result = ctx.vars["result"]
        if isinstance(result, Undefined):
            str(result)  # StrictUndefined raises here, naming the missing variable
        return result

    def _guarded(self, fn: Callable[[], Any], text: str) -> Any:
        try:
            with self.env.budget():
                return fn()
        except RenderBudgetError as err:  # never a placeholder: the plan must say the template cannot render
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise RenderBudgetError(f"{err.problems[0].message} in {shown!r}") from None
        except TemplateError:
            if self.placeholders:
                return Placeholder(f"template: {text.strip()}")
            raise
        except UndefinedError as err:
            if self.placeholders:
                return Placeholder(f"template: {text.strip()}")
            raise TemplateError(f"{err.message} in {text!r}", hint="define it in inputs or vars, or pass --var") from None
        except SecurityError as err:
            raise TemplateError(f"refused by the template sandbox: {err} in {text!r}") from None
        except Exception as err:  # noqa: BLE001 — any error raised inside a user's template is the user's
            if self.placeholders:
                return Placeholder(f"template: {text.strip()}")
            raise TemplateError(f"cannot render {text!r}: {type(err).__name__}: {err}") from None

    def render(self, value: Any, scope: Scope) -> Any:
        """Render every string inside `value`; a string that is one `{{ expr }}` keeps the expression's type."""
        if isinstance(value, str):
            if "{" not in value:
                return value
            if self._memo is not None:
                return self._remembered(value, scope)
            inner = self.whole_expression(value)
            if inner is not None:
                return self._guarded(lambda: self._eval(self._expression(inner), scope), value)
            return self._guarded(lambda: self._run(self._template(value), scope), value)
        if isinstance(value, Mapping):
            return {k: self.render(v, scope) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, scope) for v in value]
        return value

    def reads_per_step(self, value: Any, varying: frozenset[str] = frozenset()) -> bool:
        """Whether a template in `value` can render differently for two steps of one plan: it reads a run-time
        name (`item`, `loop_index`, `steps`), one of `varying`, or a template file (`template_file`,
        `template`: the file's own text may read `item`; Jinja does not list them among the names used)."""
        if isinstance(value, str):
            if "{" not in value:
                return False
            try:
                return "template" in value or bool(self.check_syntax(value) & (varying | RUNTIME_NAMES))
            except TemplateError:
                return True
        if isinstance(value, Mapping):
            return any(self.reads_per_step(v, varying) for v in value.values())
        if isinstance(value, list):
            return any(self.reads_per_step(v, varying) for v in value)
        return False

    def _remembered(self, text: str, scope: Scope) -> Any:
        memo = self._memo
        if text in memo:
            return memo[text]
        self._memo = None
        try:
            value = self.render(text, scope)
        finally:
            self._memo = memo
        fixed = not self.reads_per_step(text, self._varying)
        if fixed and (value is None or isinstance(value, (str, int, float, Placeholder))):  # never a shared list
            memo[text] = value
        return value

    def evaluate(self, expr: Any, scope: Scope) -> Any:
        """Value of a bare guard expression (`when`, `until`, assert's `that`)."""
        if not isinstance(expr, str):
            return expr
        text = self.bare(expr)
        return self._guarded(lambda: self._eval(self._expression(text), scope), expr)

    # -- template files ----------------------------------------------------------------------------

    def _read(self, relpath: str) -> tuple[Path, str]:
        path = (self.base_dir / relpath).resolve()
        try:
            return path, read_text_bounded(path, MAX_CHARS)
        except LoadError as err:
            raise TemplateError(f"cannot read template file {relpath!r}: {err.problems[0].message}",
                                hint=f"paths are relative to {self.base_dir}") from None

    def render_file(self, relpath: str, scope: Scope) -> str:
        path, text = self._read(relpath)
        try:
            tmpl = self.env.from_string(text)
        except TemplateSyntaxError as err:
            raise TemplateError(f"{relpath}:{err.lineno}: template syntax error: {err.message}") from None
        try:
            with self.env.budget():
                return self._run(tmpl, scope)
        except UndefinedError as err:
            raise TemplateError(f"{relpath}: {err.message}") from None

    @pass_context
    def _template_text(self, context, relpath: str) -> str:
        return self.render_file(relpath, context.parent)

    @pass_context
    def _template_file(self, context, relpath: str) -> str:
        text = self.render_file(relpath, context.parent)
        name = Path(relpath).name.removesuffix(".j2")
        digest = hashlib.sha256(text.encode()).hexdigest()[:10]
        out_dir = self.out_dir or (self.base_dir / ".playbook" / "rendered")
        out_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # rendered manifests may hold secrets
        stem, dot, ext = name.partition(".")
        out = out_dir / f"{stem}-{digest}{dot}{ext}"
        if not out.exists():
            with open(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w", encoding="utf-8") as fh:
                fh.write(text)
            self.rendered_files.append(out)
        return str(out)
