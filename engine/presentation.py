"""How a command shows a run: the choice between plain lines, the live terminal block and JSON lines."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import IO, Any

from .progress import LiveReporter
from .reporter import JsonLinesReporter, Reporter, TextReporter


@dataclass
class Presentation:
    """How a command shows a run: text for people (live when a terminal), or JSON lines for machines."""

    output: str = "text"
    quiet: bool = False
    stream: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)
    live: bool | None = None  # None: live progress when `stream` is a terminal

    def say(self, text: str) -> None:
        """A note for the person at the terminal (stderr, so JSON on stdout stays clean)."""
        self.err.write(text + "\n")
        self.err.flush()

    def reporter(self, prepared: Any) -> Reporter:
        """The sink that shows a run as asked: JSON lines, the live terminal block, or plain lines."""
        return reporter_for(self, prepared)


def reporter_for(present: Presentation, prepared: Any) -> Reporter:
    """The sink that shows a run as `present` asks: JSON lines, the live terminal block, or plain lines."""
    if present.output == "json":
        return JsonLinesReporter(present.stream)
    shown = frozenset(k for k, n in prepared.plan.nodes.items()
                      if n.spec.uses in prepared.plugins
                      and prepared.plugins.get(n.spec.uses).shows_output)
    live = present.live if present.live is not None else _isatty(present.stream)
    if live:
        return LiveReporter(present.stream, [n.key for n in prepared.plan.ordered()],
                            show_output=not present.quiet, shown=shown)
    return TextReporter(present.stream, show_output=not present.quiet, shown=shown)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
