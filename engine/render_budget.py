"""The rendering budget: a template may take so much time and make a value so large, and no more.

`BudgetedSandbox` is the Jinja sandbox the renderer uses. Everything in a template that can make a value grow
or a render run long goes through a check: `*`, `+`, `%`, `**` and `~`, the width and count arguments of
filters and string methods (`center(10**9)`, `batch(10**9, 'x')`, `'%9999999d' | format`), `range` and
`lipsum`, and every call. Over budget, rendering stops with `RenderBudgetError` (a TemplateError).

The deadline is per thread: `with sandbox.budget(deadline):` (seconds since the epoch, as step deadlines
are) bounds every render inside the block; a render outside any block gets `DEFAULT_SECONDS`.
"""
from __future__ import annotations

import math
import re
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from jinja2.compiler import CodeGenerator
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

from .errors import TemplateError

# One rendered value (a string, or a list built in a template); a manifest is a few kilobytes.
MAX_CHARS = 4 * 1024 * 1024
# A render outside any step budget (a plan, a var, a guard): a template has no business running longer.
DEFAULT_SECONDS = 10.0
MAX_RANGE = 100_000
MAX_LIPSUM_WORDS = 100_000
# Filters whose argument after the value is a width or a count the result grows with.
_GROWING_FILTERS = ("center", "indent", "batch", "slice")
_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill", "expandtabs"}
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d*)(?:\.(\d+))?[a-zA-Z%]")
_BRACE_SPEC = re.compile(r"\{[^{}]*?:([^{}]*)\}")


class RenderBudgetError(TemplateError):
    """A template went over its time or size budget; the render stopped."""


class _BudgetCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a checked join (Jinja's own is a plain `"".join`, which no sandbox hook sees)."""

    def visit_Concat(self, node: Any, frame: Any) -> None:  # noqa: N802 - the CodeGenerator API
        self.write("environment.budget_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else 0


class BudgetedSandbox(SandboxedEnvironment):
    """Jinja's sandbox with a time and size budget on everything a template can make grow."""

    code_generator_class = _BudgetCodeGenerator
    intercepted_binops = frozenset({"*", "+", "%", "**"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._local = threading.local()
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        for name in _GROWING_FILTERS:
            self.filters[name] = self._bounded_filter(self.filters[name], name)
        self.filters["format"] = self._bounded_format(self.filters["format"])

    # -- the budget ------------------------------------------------------------------------------

    @contextmanager
    def budget(self, deadline: float | None = None) -> Iterator[None]:
        """Renders in this thread stop at `deadline` (time.time()); nested budgets keep the nearer one."""
        outer = getattr(self._local, "deadline", None)
        if deadline is None:
            deadline = time.time() + DEFAULT_SECONDS if outer is None else outer
        elif outer is not None:
            deadline = min(deadline, outer)
        self._local.deadline = deadline
        try:
            yield
        finally:
            self._local.deadline = outer

    def check_time(self) -> None:
        deadline = getattr(self._local, "deadline", None)
        if deadline is not None and time.time() > deadline:
            raise RenderBudgetError("rendering ran out of time (the step's timeout, or "
                                    f"{DEFAULT_SECONDS:g}s outside a step)")

    def check_size(self, size: int, what: str = "a value") -> None:
        if size > MAX_CHARS:
            raise RenderBudgetError(f"rendering would make {what} of size {size}, more than the "
                                    f"{MAX_CHARS} allowed")

    # -- the hooks Jinja calls -------------------------------------------------------------------

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        # Sizes only: an operator is quick, and loops and calls (which check the time) bound how many run.
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                if _size(seq) and isinstance(times, int):
                    self.check_size(_size(seq) * times)
        elif op == "+" and _size(left) and _size(right):
            self.check_size(_size(left) + _size(right))
        elif op == "%" and isinstance(left, str):
            self._check_format(left)
        elif op == "**" and isinstance(left, (int, float)) and isinstance(right, (int, float)):
            # The number of digits of left ** right; a million-digit integer is already absurd in a template.
            if abs(left) > 1 and right > 0 and right * math.log10(abs(left)) > 10_000:
                raise RenderBudgetError(f"{left} ** {right} has more digits than the 10000 allowed")
        return self.binop_table[op](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's API
        __self.check_time()
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format in its own formatter
        owner = getattr(target, "__self__", None)
        name = getattr(target, "__name__", "")
        if isinstance(owner, str):
            if name in _WIDTH_METHODS:
                for arg in (*args, *kwargs.values()):
                    if isinstance(arg, int):
                        __self.check_size(arg, f"a string padded to {arg}")
            elif name in ("format", "format_map"):
                __self._check_format(owner)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, (list, dict)):  # l.extend(l) doubles a list without any operator
            __self.check_size(len(owner), "a collection")
        __self.check_size(_size(result))
        return result

    def budget_join(self, parts: tuple) -> str:
        text = "".join(map(str, parts))
        self.check_size(len(text))
        return text

    # -- bounded globals and filters -------------------------------------------------------------

    def _range(self, *args: int) -> Iterator[int]:
        values = range(*args)
        if len(values) > MAX_RANGE:
            raise RenderBudgetError(f"range of {len(values)} items, more than the {MAX_RANGE} allowed")
        for index, value in enumerate(values):
            if not index & 0xFF:  # the clock every 256 turns: cheap, and a turn of an empty loop is ~0.1 µs
                self.check_time()
            yield value

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
        if n * max > MAX_LIPSUM_WORDS:
            raise RenderBudgetError(f"lipsum({n}, max={max}) would write up to {n * max} words, more than the "
                                    f"{MAX_LIPSUM_WORDS} allowed")
        return generate_lorem_ipsum(n=n, html=html, min=min, max=max)

    def _bounded_filter(self, fn: Any, name: str) -> Any:
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.check_time()
            # Filters with pass_* decorators get a context or environment first; count from the value.
            offset = 1 if getattr(fn, "jinja_pass_arg", None) is not None else 0
            values = list(args[offset + 1:offset + 2]) + [
                v for k, v in kwargs.items() if k in ("width", "linecount", "slices", "length")]
            for value in values:
                if isinstance(value, int):
                    self.check_size(value, f"{name}({value})")
            result = fn(*args, **kwargs)
            self.check_size(_size(result))
            return result
        bounded.jinja_pass_arg = getattr(fn, "jinja_pass_arg", None)  # type: ignore[attr-defined]
        return bounded

    def _bounded_format(self, fn: Any) -> Any:
        def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(value, str):
                self._check_format(value)
            return fn(value, *args, **kwargs)
        return bounded

    def _check_format(self, fmt: str) -> None:
        """A format string's widths and precisions (`%9999999d`, `{:>9999999}`) are sizes too."""
        numbers = [n for m in _PERCENT_SPEC.finditer(fmt) for n in m.groups() if n]
        numbers += [n for m in _BRACE_SPEC.finditer(fmt) for n in re.findall(r"\d+", m.group(1))]
        for number in numbers:
            if len(number) > 7 or int(number) > MAX_CHARS:
                raise RenderBudgetError(f"a format width of {number}, more than the {MAX_CHARS} allowed")

