"""The run report: one run's journal as a self-contained HTML page (to attach to a change ticket) or Markdown.

`model` folds a run directory into a `RunReport`; `html` and `markdown` render it; `command` is the
`playbook report` CLI command (registered lazily by engine/cli.py).
"""
from __future__ import annotations

from .model import RunReport, build_report

__all__ = ["RunReport", "build_report", "render"]


def render(report: RunReport, fmt: str = "html") -> str:
    """The report as `html` (one page, no outside resources) or `md`."""
    if fmt == "md":
        from .markdown import render_markdown
        return render_markdown(report)
    from .html import render_html
    return render_html(report)
