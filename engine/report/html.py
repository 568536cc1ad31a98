"""The run report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

A Content-Security-Policy forbids every outside resource, so the page shows the same thing attached to a
ticket, opened offline, or in a browser that blocks scripts. The plan graph and the timeline are SVG drawn
here: the graph in layers (the plan's waves) coloured by outcome; the timeline a Gantt chart with a band for
each group copy (a wave of namespaces, a namespace) above its steps, and each compensation beside its step.
"""
from __future__ import annotations

import html
import json
import re
from typing import Any, Iterable

from .. import __version__
from ..durations import format_duration
from .model import RunReport, StepRow, clock

COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "rolled_back": "#ef6c00", "skipped": "#9e9e9e",
           "not_run": "#e0e0e0", "running": "#1565c0", "pending": "#e0e0e0"}
_ROLLBACK_STATUS = {"succeeded": "succeeded", "running": "running"}  # else failed or abandoned: red
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#212121;background:#fafafa}
main{max-width:1400px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#555}.meta span{margin-right:18px}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
.verdict{padding:10px 14px;border-radius:6px;margin:12px 0;font-weight:600}
.verdict.ok{background:#e8f5e9;border:1px solid #2e7d32;color:#1b5e20}
.verdict.bad{background:#ffebee;border:1px solid #c62828;color:#b71c1c}
.verdict.none{background:#f5f5f5;border:1px solid #bbb;color:#555}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.mono,code{font-family:ui-monospace,'SFMono-Regular',Menlo,monospace;font-size:12px}
.scroll{overflow-x:auto;background:#fff;border:1px solid #e0e0e0;border-radius:4px}
svg text{font-family:system-ui,sans-serif}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
.empty{color:#777;font-style:italic}
"""


def _text(value: Any) -> str:
    """Escaped for HTML, with control characters (terminal escapes in step output) made visible."""
    s = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return html.escape(_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", s), quote=True)


def _dur(seconds: float | None) -> str:
    return format_duration(seconds) if seconds is not None else "-"


def _fill(status: str) -> str:
    return COLOURS.get(status, "#e0e0e0")


# -- the plan graph ---------------------------------------------------------------------------------------

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 210, 34, 16, 22, 12
PER_ROW = 6  # a wide layer wraps, so the graph fits a page instead of scrolling sideways


def plan_graph_svg(report: RunReport) -> str:
    """The plan's steps in layers (a step sits below everything it needs), coloured by outcome."""
    layers: dict[int, list[StepRow]] = {}
    for step in report.steps:
        layers.setdefault(step.layer, []).append(step)
    if not layers:
        return '<p class="empty">The journal holds no plan.</p>'
    rows = [layer[i:i + PER_ROW] for _, layer in sorted(layers.items()) for i in range(0, len(layer), PER_ROW)]
    widest = max(len(row) for row in rows)
    width = PAD * 2 + widest * NODE_W + (widest - 1) * GAP_X
    height = PAD * 2 + len(rows) * NODE_H + (len(rows) - 1) * GAP_Y
    pos: dict[str, tuple[float, float]] = {}
    for number, row in enumerate(rows):
        row_w = len(row) * NODE_W + (len(row) - 1) * GAP_X
        x0 = (width - row_w) / 2
        for i, step in enumerate(row):
            pos[step.key] = (x0 + i * (NODE_W + GAP_X), PAD + number * (NODE_H + GAP_Y))
    edges, nodes = [], []
    for step in report.steps:
        x, y = pos[step.key]
        for need in step.needs:
            if need not in pos:
                continue
            px, py = pos[need]
            x1, y1, x2, y2 = px + NODE_W / 2, py + NODE_H, x + NODE_W / 2, y
            mid = (y1 + y2) / 2
            edges.append(f'<path class="edge" d="M{x1:.0f},{y1:.0f} C{x1:.0f},{mid:.0f} {x2:.0f},{mid:.0f} '
                         f'{x2:.0f},{y2:.0f}" fill="none" stroke="#90a4ae" stroke-width="1.2" '
                         f'marker-end="url(#arrow)"/>')
        group = ".".join(step.groups)
        light = step.status in ("not_run", "pending", "skipped")
        colour = "#424242" if light else "#fff"
        stroke = ' stroke="#c62828" stroke-width="3"' if step.rollback == "failed" else ""
        tip = f"{step.key} — {step.status}" + (f" in {_dur(step.duration)}" if step.duration is not None else "")
        if step.rollback:
            tip += f"; rollback {step.rollback}"
        label = step.leaf if len(step.leaf) <= 30 else step.leaf[:29] + "…"
        sub = group if len(group) <= 36 else "…" + group[-35:]
        nodes.append(
            f'<g class="node s-{step.status}" data-key="{_text(step.key)}" data-status="{step.status}">'
            f'<title>{_text(tip)}</title>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{NODE_W}" height="{NODE_H}" rx="5" fill="{_fill(step.status)}"'
            f'{stroke}/>'
            + (f'<text x="{x + 8:.0f}" y="{y + 12:.0f}" font-size="9" fill="{colour}" opacity="0.85">'
               f'{_text(sub)}</text>' if group else "")
            + f'<text x="{x + 8:.0f}" y="{y + (26 if group else 21):.0f}" font-size="12" font-weight="600" '
              f'fill="{colour}">{_text(label)}</text></g>')
    return (f'<svg id="plan-graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" role="img" aria-label="plan graph">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/></marker></defs>'
            + "".join(edges) + "".join(nodes) + "</svg>")


# -- the timeline -------------------------------------------------------------------------------------------

LABEL_W, CHART_W, ROW_H, AXIS_H = 360, 900, 18, 26


def _tick_step(span: float) -> float:
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200):
        if span / step <= 10:
            return step
    return 14400


def _timeline_rows(report: RunReport) -> list[tuple[str, Any]]:
    """("group", (name, depth, steps)) and ("step", step) rows, in the order things started."""
    def first(step: StepRow) -> float:
        return step.started or step.skipped_at or float("inf")
    ordered = sorted(report.steps, key=lambda s: (first(s), s.layer))
    members: dict[str, list[StepRow]] = {}
    for step in ordered:
        for depth in range(len(step.groups)):
            members.setdefault(".".join(step.groups[:depth + 1]), []).append(step)
    rows: list[tuple[str, Any]] = []
    shown: set[str] = set()
    for step in ordered:
        for depth in range(len(step.groups)):
            name = ".".join(step.groups[:depth + 1])
            if name not in shown:
                shown.add(name)
                rows.append(("group", (name, depth, members[name])))
        rows.append(("step", step))
    return rows


def timeline_svg(report: RunReport) -> str:
    """A Gantt chart: one bar per step (and its rollback), a band per group copy, a time axis from the start."""
    times = [t for s in report.steps for t in (s.started, s.ended, s.skipped_at, s.rollback_started,
                                              s.rollback_ended) if t is not None]
    if not times:
        return '<p class="empty">No step started.</p>'
    t0 = report.created or min(times)
    t1 = max(max(times), t0 + 0.001)
    span = t1 - t0
    scale = CHART_W / span
    rows = _timeline_rows(report)
    height = AXIS_H + len(rows) * ROW_H + 8
    width = LABEL_W + CHART_W + 20
    out = []
    tick = _tick_step(span)
    n = 0
    while n * tick <= span + 1e-9:
        x = LABEL_W + n * tick * scale
        out.append(f'<line x1="{x:.1f}" y1="{AXIS_H - 6}" x2="{x:.1f}" y2="{height}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{AXIS_H - 10}" font-size="10" fill="#777" text-anchor="middle">'
                   f'+{_text(format_duration(n * tick))}</text>')
        n += 1
    for i, (kind, row) in enumerate(rows):
        y = AXIS_H + i * ROW_H
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{ROW_H}" fill="#fafafa"/>')
        if kind == "group":
            name, depth, steps = row
            starts = [s.started for s in steps if s.started is not None]
            ends = [t for s in steps for t in (s.ended, s.rollback_ended) if t is not None]
            out.append(f'<text x="{6 + depth * 14}" y="{y + 13}" font-size="12" font-weight="700" fill="#37474f">'
                       f'{_text(name.split(".")[-1])}</text>')
            if starts and ends:
                x = LABEL_W + (min(starts) - t0) * scale
                w = max(2.0, (max(ends) - min(starts)) * scale)
                status = "failed" if any(s.status == "failed" for s in steps) else (
                    "rolled_back" if any(s.status == "rolled_back" for s in steps) else "succeeded")
                out.append(f'<rect class="band" x="{x:.1f}" y="{y + 5}" width="{w:.1f}" height="{ROW_H - 10}" '
                           f'fill="{_fill(status)}" opacity="0.35"><title>{_text(name)}: '
                           f'{_text(_dur(max(ends) - min(starts)))}</title></rect>')
            continue
        step: StepRow = row
        depth = len(step.groups)
        faded = "#9e9e9e" if step.status in ("not_run", "skipped", "pending") else "#212121"
        out.append(f'<text x="{6 + depth * 14}" y="{y + 13}" font-size="12" fill="{faded}">'
                   f'{_text(step.leaf)}</text>')
        def bar(css: str, start: float, stop: float | None, colour: str, tip: str, extra: str = "") -> str:
            stop = stop if stop is not None else t1  # still running when the journal ends
            return (f'<rect class="{css}"{extra} x="{LABEL_W + (start - t0) * scale:.1f}" y="{y + 3}" '
                    f'width="{max(2.0, (stop - start) * scale):.1f}" height="{ROW_H - 6}" rx="2" fill="{colour}">'
                    f'<title>{_text(step.key)}: {_text(tip)}, {_text(_dur(stop - start))}</title></rect>')
        if step.started is not None:
            out.append(bar(f"bar s-{step.status}", step.started, step.ended, _fill(step.status), step.status,
                           f' data-key="{_text(step.key)}"'))
        elif step.skipped_at is not None:
            x = LABEL_W + (step.skipped_at - t0) * scale
            out.append(f'<path class="skip" d="M{x:.1f},{y + 4} l5,5 l-5,5 l-5,-5 z" fill="#bdbdbd">'
                       f'<title>{_text(step.key)}: skipped</title></path>')
        if step.rollback_started is not None:
            colour = "#b71c1c" if step.rollback in ("failed", "abandoned") else "#6a1b9a"
            out.append(bar("rollback-bar", step.rollback_started, step.rollback_ended, colour,
                           f"rollback {step.rollback}"))
    return (f'<svg id="timeline" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="timeline">' + "".join(out) + "</svg>")


# -- tables ----------------------------------------------------------------------------------------------


def _table(head: Iterable[str], rows: list[list[str]], empty: str) -> str:
    if not rows:
        return f'<p class="empty">{_text(empty)}</p>'
    return ("<table><tr>" + "".join(f"<th>{_text(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows) + "</table>")


def _verdict(report: RunReport) -> str:
    v = report.verdict
    if v is None:
        return ('<div class="verdict none" id="verdict">No downtime verdict: the run was not on the emulator, '
                'whose monitor gives one.</div>')
    cls = "ok" if v.get("zero_downtime") else "bad"
    lines = _text(v.get("text", "")).replace("\n", "<br>")
    return f'<div class="verdict {cls}" id="verdict">{lines}</div>'


def render_html(report: RunReport) -> str:
    """The whole page."""
    r = report
    duration = (r.ended - r.created) if r.ended and r.created else None
    legend = "".join(f'<span><i style="background:{c}"></i>{s.replace("_", " ")}</span>'
                     for s, c in COLOURS.items() if s != "pending")
    legend += '<span><i style="background:#6a1b9a"></i>rollback</span>'
    inputs = [[f"<code>{_text(k)}</code>", f"<code>{_text(v)}</code>"] for k, v in r.inputs.items()]
    approvals = [[_text(clock(a.time)), f"<code>{_text(a.key)}</code>", _text(a.prompt), _text(a.answer)]
                 for a in r.approvals]
    gates = [[f"<code>{_text(g.key)}</code>", _text(g.uses), _badge(g.status), f"<code>{_text(g.check)}</code>",
              _text(g.measured)] for g in r.gates]
    rollbacks = [[f"<code>{_text(s.key)}</code>", _badge(_ROLLBACK_STATUS.get(s.rollback or "", "failed"),
                                                         s.rollback or ""),
                  _text(_dur(s.rollback_ended - s.rollback_started if s.rollback_started and s.rollback_ended
                             else None)), _text(s.rollback_message)] for s in r.rollbacks]
    steps = [[f"<code>{_text(s.key)}</code>", _text(s.uses or ""), _badge(s.status), _text(_dur(s.duration)),
              str(s.attempts or ""), _text(s.message)] for s in r.steps]
    secrets = f" (secret: {', '.join(r.secrets)} — masked)" if r.secrets else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_text(r.playbook)} run {_text(r.run_id)}: {_text(r.status)}</title>
<style>{_CSS}</style></head>
<body><main>
<h1>{_text(r.playbook)} — run <code>{_text(r.run_id)}</code> {_badge(r.status)}</h1>
<div class="meta"><span>started {_text(clock(r.created))}</span><span>took {_text(_dur(duration))}</span>
<span>exit code {_text(r.exit_code if r.exit_code is not None else "-")}</span>
<span>attempts: {_text(", ".join(r.attempts) or "-")}</span></div>
<div class="meta"><span>playbook <code>{_text(r.playbook_path)}</code></span></div>
<p id="conclusion"><strong>{_text(r.conclusion)}</strong></p>
{_verdict(r)}
<h2>Timeline</h2>
<div class="legend">{legend}</div>
<div class="scroll">{timeline_svg(r)}</div>
<h2>Plan graph</h2>
<div class="scroll">{plan_graph_svg(r)}</div>
<h2>Inputs{_text(secrets)}</h2>
{_table(["input", "value"], inputs, "No inputs.")}
<h2>Approvals</h2>
{_table(["time", "step", "prompt", "answer"], approvals, "No approval was asked for.")}
<h2>Gates</h2>
{_table(["step", "plugin", "status", "check", "measured"], gates, "No gate ran.")}
<h2>Rollbacks</h2>
{_table(["step", "rollback", "took", "message"], rollbacks, "Nothing was rolled back.")}
<h2>Steps</h2>
{_table(["step", "plugin", "status", "took", "attempts", "message"], steps, "No steps.")}
<p class="meta">Generated by playbook {_text(__version__)} from the journal {_text(str(r.run_dir))}.</p>
</main></body></html>
"""


def _badge(status: str, label: str | None = None) -> str:
    colour = _fill(status)
    text_colour = "#212121" if status in ("not_run", "pending") else "#fff"
    return (f'<span class="badge" style="background:{colour};color:{text_colour}">'
            f'{_text((label or status).replace("_", " "))}</span>')
