"""A rehearsal's report as one self-contained HTML page: verdict, findings, the plan graph coloured by each
step's outcome, a timeline of the run, downtime and the estimate. Inline CSS and SVG only; no script, nothing
fetched."""
from __future__ import annotations

from html import escape

from ..durations import format_duration
from .rehearsal import Report

COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "rolled_back": "#ef6c00", "skipped": "#9e9e9e",
           "not_run": "#e0e0e0", "running": "#1565c0", "pending": "#e0e0e0"}
_VERDICT = {"go": ("#2e7d32", "GO"), "go-with-warnings": ("#ef6c00", "GO WITH WARNINGS"), "no-go": ("#c62828", "NO-GO")}
_CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#212121;max-width:1400px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.verdict{display:inline-block;padding:6px 14px;border-radius:4px;color:#fff;font-weight:600}
.finding{border-left:4px solid;padding:4px 12px;margin:10px 0;background:#fafafa}
.error{border-color:#c62828}.warning{border-color:#ef6c00}code{background:#f1f1f1;padding:0 3px}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
.legend span{display:inline-block;padding:1px 8px;margin-right:6px;border-radius:3px;color:#fff;font-size:12px}
svg text{font:11px system-ui,sans-serif}.scroll{overflow-x:auto}"""


def _legend() -> str:
    return '<p class="legend">' + "".join(
        f'<span style="background:{c};color:{"#fff" if s not in ("not_run", "pending") else "#333"}">{s}</span>'
        for s, c in COLOURS.items() if s != "pending") + "</p>"


def plan_svg(report: Report) -> str:
    """The plan's graph, one column per wave of steps, each box coloured by its outcome."""
    status = {s["key"]: s["status"] for s in report.steps}
    waves = report.plan["waves"]
    w, h, gap_x, gap_y = 200, 24, 60, 10
    pos: dict[str, tuple[int, int]] = {}
    for i, wave in enumerate(waves):
        for j, key in enumerate(wave):
            pos[key] = (10 + i * (w + gap_x), 10 + j * (h + gap_y))
    width = 20 + len(waves) * (w + gap_x)
    height = 20 + max((len(wv) for wv in waves), default=1) * (h + gap_y)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'aria-label="plan graph">']
    for a, b in report.plan["edges"]:
        if a in pos and b in pos:
            (x1, y1), (x2, y2) = pos[a], pos[b]
            parts.append(f'<line x1="{x1 + w}" y1="{y1 + h // 2}" x2="{x2}" y2="{y2 + h // 2}" stroke="#bbb"/>')
    for key, (x, y) in pos.items():
        st = status.get(key, "not_run")
        fill = COLOURS.get(st, "#e0e0e0")
        ink = "#333" if st in ("not_run", "pending") else "#fff"
        label = key if len(key) <= 30 else "…" + key[-29:]
        parts.append(f'<g><title>{escape(key)}: {escape(st)}</title><rect x="{x}" y="{y}" width="{w}" '
                     f'height="{h}" rx="4" fill="{fill}"/><text x="{x + 6}" y="{y + 16}" fill="{ink}">'
                     f'{escape(label)}</text></g>')
    parts.append("</svg>")
    return "".join(parts)


def timeline_svg(report: Report) -> str:
    """Each step that ran as a bar from its start to its end, one row per step."""
    ran = [s for s in report.steps if s["start"] is not None]
    if not ran:
        return "<p>No step ran.</p>"
    total = max(s["start"] + (s["seconds"] or 0) for s in ran) or 1.0
    label_w, bar_w, row = 300, 800, 16
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{label_w + bar_w + 70}" '
             f'height="{len(ran) * row + 30}" role="img" aria-label="timeline">']
    for i, s in enumerate(ran):
        y = 4 + i * row
        x = label_w + bar_w * s["start"] / total
        bw = max(2.0, bar_w * (s["seconds"] or 0) / total)
        label = s["key"] if len(s["key"]) <= 45 else "…" + s["key"][-44:]
        parts.append(f'<text x="0" y="{y + 11}">{escape(label)}</text><rect x="{x:.1f}" y="{y}" width="{bw:.1f}" '
                     f'height="{row - 4}" fill="{COLOURS.get(s["status"], "#999")}"><title>{escape(s["key"])}: '
                     f'{escape(s["status"])}, +{s["start"]:.2f} s for {(s["seconds"] or 0):.2f} s</title></rect>')
    y = len(ran) * row + 20
    parts.append(f'<text x="{label_w}" y="{y}">0 s</text><text x="{label_w + bar_w - 30}" y="{y}">'
                 f'{total:.1f} s</text></svg>')
    return "".join(parts)


def html(report: Report) -> str:
    colour, word = _VERDICT[report.verdict]
    run, est = report.run, report.estimate
    findings = "".join(
        f'<div class="finding {f.severity}"><b>{escape(f.code)} {escape(f.kind.slug)}</b> ({f.severity})'
        f'<p>{escape(f.message)}</p><p>Objects: {", ".join(f"<code>{escape(o)}</code>" for o in f.objects)}</p>'
        f'<p><b>Fix:</b> {escape(f.fix)}</p></div>' for f in report.findings) or "<p>None.</p>"
    downtime = "".join(f"<tr><td>{escape(n)}</td><td>{'none' if not v else f'{v:.2f} s'}</td></tr>"
                       for n, v in sorted(report.downtime.items()))
    rollouts = "".join(f"<tr><td>{escape(r['workload'])}</td><td>{r['batches']}</td><td>{r['ready_seconds']} s</td>"
                       f"<td>{escape(r['readiness_from'])}</td><td>{r['estimate_seconds']} s</td></tr>"
                       for r in est["rollouts"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Rehearsal: {escape(report.playbook)}</title>
<style>{_CSS}</style></head><body>
<h1>Rehearsal: {escape(report.playbook)}</h1>
<p><span class="verdict" style="background:{colour}">{word}</span></p>
<p>Cluster: <code>{escape(report.source)}</code> {escape(str(report.snapshot.get('context', '')))}
{escape(str(report.snapshot.get('taken', '')))}<br>Run: {escape(run['status'])}, exit {run['exit_code']},
{format_duration(run['seconds'])} on the emulator. Estimated on the real cluster:
<b>{format_duration(est['estimate_seconds'])}</b>.</p>
<p><i>{escape(report.not_live)}</i></p>
<h2>Findings</h2>{findings}
<h2>Plan</h2>{_legend()}<div class="scroll">{plan_svg(report)}</div>
<h2>Timeline</h2><div class="scroll">{timeline_svg(report)}</div>
<h2>Downtime per workload</h2><table><tr><th>Workload</th><th>No ready replica</th></tr>{downtime}</table>
<h2>Duration estimate</h2><table><tr><th>Rollout</th><th>Batches</th><th>Readiness</th><th>From</th>
<th>Estimate</th></tr>{rollouts}</table>
</body></html>
"""
