"""A rehearsal's report as one self-contained HTML page: verdict, findings, the plan graph coloured by each
step's outcome and a timeline of the run (drawn by `playbook report`'s engine/report/html.py from the run's
journal), downtime and the estimate. Inline CSS and SVG only; no script, nothing fetched."""
from __future__ import annotations

from html import escape
from pathlib import Path

from ..durations import format_duration
from ..errors import PlaybookError
from ..report import build_report
from ..report.html import COLOURS, plan_graph_svg, timeline_svg
from .rehearsal import Report

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


def _run_svgs(report: Report) -> tuple[str, str]:
    """The plan graph and the timeline of the rehearsal's run, drawn as `playbook report` draws them."""
    try:
        run = build_report(Path(report.run["run_dir"]))
    except (OSError, PlaybookError) as err:
        missing = f"<p>The run's journal could not be read: {escape(str(err))}</p>"
        return missing, missing
    return plan_graph_svg(run), timeline_svg(run)


def html(report: Report) -> str:
    colour, word = _VERDICT[report.verdict]
    plan, timeline = _run_svgs(report)
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
<b>{format_duration(est['estimate_seconds'])}</b>. The run's own report (every step, its output, rollbacks):
<code>{escape(str(run.get('report', '-')))}</code>.</p>
<p><i>{escape(report.not_live)}</i></p>
<h2>Findings</h2>{findings}
<h2>Plan</h2>{_legend()}<div class="scroll">{plan}</div>
<h2>Timeline</h2><div class="scroll">{timeline}</div>
<h2>Downtime per workload</h2><table><tr><th>Workload</th><th>No ready replica</th></tr>{downtime}</table>
<h2>Duration estimate</h2><table><tr><th>Rollout</th><th>Batches</th><th>Readiness</th><th>From</th>
<th>Estimate</th></tr>{rollouts}</table>
</body></html>
"""
