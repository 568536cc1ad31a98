"""The run report as Markdown: the same sections as the HTML page, the graph as a Mermaid flowchart."""
from __future__ import annotations

import json
from typing import Any

from ..durations import format_duration
from .model import RunReport, clock

_CLASS = {"succeeded": "ok", "failed": "bad", "rolled_back": "undone", "skipped": "skip", "not_run": "skip",
          "running": "run", "pending": "skip"}


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text).replace("|", "\\|")


def _dur(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "-"


def _table(head: list[str], rows: list[list[str]], empty: str) -> list[str]:
    if not rows:
        return [f"_{empty}_", ""]
    return (["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
            + ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows] + [""])


def render_markdown(report: RunReport) -> str:
    """The report as Markdown text."""
    r = report
    duration = (r.ended - r.created) if r.ended and r.created else None
    lines = [f"# {r.playbook} — run `{r.run_id}`: {r.status}", "",
             f"Started {clock(r.created)}, took {_dur(duration)}, exit code "
             f"{r.exit_code if r.exit_code is not None else '-'}; attempts: {', '.join(r.attempts) or '-'}.",
             f"Playbook `{r.playbook_path}`.", "", f"**{r.conclusion}**", ""]
    lines += ["## Downtime verdict", "",
              (r.verdict or {}).get("text") or "No downtime verdict: the run was not on the emulator.", ""]
    lines += ["## Timeline", ""]
    t0 = r.created or 0.0
    rows = []
    for s in sorted(r.steps, key=lambda s: (s.started or s.skipped_at or float("inf"), s.layer)):
        at = s.started or s.skipped_at
        rollback = (f"{s.rollback} at +{_dur(s.rollback_started - t0)}" if s.rollback_started else "-")
        rows.append([f"+{_dur(at - t0)}" if at else "-", f"`{s.key}`", s.status, _dur(s.duration), rollback])
    lines += _table(["start", "step", "status", "took", "rollback"], rows, "No step started.")
    lines += ["## Plan graph", "", "```mermaid", "flowchart TD"]
    ids = {s.key: f"n{i}" for i, s in enumerate(r.steps)}
    for s in r.steps:
        label = s.key.replace('"', "'")
        lines.append(f'  {ids[s.key]}["{label}"]:::{_CLASS.get(s.status, "skip")}')
    for s in r.steps:
        lines += [f"  {ids[n]} --> {ids[s.key]}" for n in s.needs if n in ids]
    lines += ["  classDef ok fill:#2e7d32,color:#fff", "  classDef bad fill:#c62828,color:#fff",
              "  classDef undone fill:#ef6c00,color:#fff", "  classDef run fill:#1565c0,color:#fff",
              "  classDef skip fill:#e0e0e0,color:#424242", "```", ""]
    secret = f" (secret: {', '.join(r.secrets)} — masked)" if r.secrets else ""
    lines += [f"## Inputs{secret}", ""]
    lines += _table(["input", "value"], [[f"`{k}`", json.dumps(v, default=str, ensure_ascii=False)]
                                         for k, v in r.inputs.items()], "No inputs.")
    lines += ["## Approvals", ""]
    lines += _table(["time", "step", "prompt", "answer"], [[clock(a.time), f"`{a.key}`", a.prompt, a.answer]
                                                          for a in r.approvals], "No approval was asked for.")
    lines += ["## Gates", ""]
    lines += _table(["step", "plugin", "status", "check", "measured"],
                    [[f"`{g.key}`", g.uses, g.status, f"`{g.check}`", g.measured] for g in r.gates], "No gate ran.")
    lines += ["## Rollbacks", ""]
    lines += _table(["step", "rollback", "message"], [[f"`{s.key}`", s.rollback or "", s.rollback_message]
                                                      for s in r.rollbacks], "Nothing was rolled back.")
    return "\n".join(lines).rstrip() + "\n"
