"""A rehearsal's report as text for the terminal, Markdown for a change review, and JSON for machines."""
from __future__ import annotations

import json
from pathlib import Path

from ..durations import format_duration
from .findings import CATALOGUE
from .rehearsal import Report

_VERDICT_WORDS = {"go": "GO: nothing found", "go-with-warnings": "GO WITH WARNINGS: read them before the change",
                  "no-go": "NO-GO: fix the errors below before the change"}


def _counts(report: Report) -> str:
    errors = sum(1 for f in report.findings if f.severity == "error")
    warnings = len(report.findings) - errors
    return f"{errors} error(s), {warnings} warning(s)"


def _source_line(report: Report) -> str:
    snap = report.snapshot
    if snap.get("context") or snap.get("taken"):
        return (f"{report.source} (snapshot of context {snap.get('context') or '?'}, {snap.get('server-version', '')} "
                f"taken {snap.get('taken', '?')})")
    return report.source


def _downtime_rows(report: Report) -> list[tuple[str, str]]:
    return [(name, "none" if not secs else f"{secs:.2f} s") for name, secs in sorted(report.downtime.items())]


def _secs(value: float | None, sign: str = "", digits: int = 2) -> str:
    return "" if value is None else f"{sign}{value:.{digits}f} s"


def text(report: Report) -> str:
    """The terminal summary: verdict, findings with their fixes, downtime, the estimate, and where the files are."""
    run = report.run
    lines = [f"Rehearsal of {report.playbook} on {_source_line(report)}",
             f"verdict: {_VERDICT_WORDS[report.verdict]} ({_counts(report)})",
             f"run: {run['status']} (exit {run['exit_code']}) in {format_duration(run['seconds'])} on the emulator"
             + (f"; first failed step: {run['failed_step']}" if run.get("failed_step") else "")]
    if report.copy.get("refused"):
        lines.append(f"copy: {len(report.copy['refused'])} object(s) of the dump refused by the emulator's API and "
                     f"left out: " + "; ".join(report.copy["refused"]))
    for f in report.findings:
        lines += ["", f"{f.severity.upper()} {f.code} {f.kind.slug}: {f.message}",
                  f"  objects: {', '.join(f.objects)}", f"  fix: {f.fix}"]
    hit = [(n, d) for n, d in _downtime_rows(report) if d != "none"]
    lines += ["", f"downtime: {len(report.downtime)} workload(s) watched, "
              + (f"{len(hit)} with downtime: " + ", ".join(f"{n} {d}" for n, d in hit) if hit else "none had any")]
    est = report.estimate
    lines.append(f"estimate on the real cluster: {format_duration(est['estimate_seconds'])} "
                 f"({len(est['rollouts'])} rollout(s) re-timed with the snapshot's readiness times; "
                 f"the rehearsal took {format_duration(est['rehearsal_seconds'])})")
    lines += ["", report.not_live]
    return "\n".join(lines)


def markdown(report: Report) -> str:
    """The report for a change review."""
    run = report.run
    out = [f"# Rehearsal: {report.playbook}", "",
           f"**Verdict: {_VERDICT_WORDS[report.verdict]}** ({_counts(report)})", "",
           f"- Cluster: {_source_line(report)}",
           f"- Copy: {report.copy['objects']} objects on {report.copy['nodes']} nodes"
           + (" (left out: " + ", ".join(f"{n} {k}" for k, n in sorted(report.copy["left_out"].items())) + ")"
              if report.copy["left_out"] else ""),
           *(["- Refused by the emulator's API (not in the copy): " + "; ".join(report.copy["refused"])]
             if report.copy.get("refused") else []),
           f"- Run: {run['status']}, exit code {run['exit_code']}, {format_duration(run['seconds'])} on the emulator; "
           f"journal `{run['run_dir']}`, run report `{run.get('report', '-')}`",
           "- Inputs: " + ", ".join(f"`{k}={json.dumps(v, default=str)}`" for k, v in sorted(report.inputs.items())),
           "", f"> {report.not_live}", "", "## Findings", ""]
    if not report.findings:
        out += ["None.", ""]
    for f in report.findings:
        out += [f"### {f.code} {f.kind.slug} ({f.severity})", "", f.message, "",
                "Objects: " + ", ".join(f"`{o}`" for o in f.objects), "", f"**Fix:** {f.fix}", ""]
    out += ["## Downtime per workload", "", "| Workload | Time with no ready replica |", "|---|---|"]
    out += [f"| {n} | {d} |" for n, d in _downtime_rows(report)]
    est = report.estimate
    out += ["", "## Duration on the real cluster", "",
            f"Estimated **{format_duration(est['estimate_seconds'])}** (the rehearsal took "
            f"{format_duration(est['rehearsal_seconds'])}): each rollout re-timed as batches x the readiness time "
            f"the snapshot's pods show; everything else as it ran.", "",
            "| Rollout | Batches | Readiness | From | Rehearsal | Estimate |", "|---|---|---|---|---|---|"]
    out += [f"| {r['workload']} | {r['batches']} | {r['ready_seconds']} s | {r['readiness_from']} | "
            f"{r['rehearsal_seconds']} s | {r['estimate_seconds']} s |" for r in est["rollouts"]]
    out += ["", "## Steps", "", "| Step | Status | Start | Duration |", "|---|---|---|---|"]
    out += [f"| `{s['key']}` | {s['status']} | {_secs(s['start'], '+', 1)} | {_secs(s['seconds'])} |"
            for s in report.steps]
    out += ["", "## Finding codes", "", "| Code | Name | Severity | Meaning |", "|---|---|---|---|"]
    out += [f"| {c.code} | {c.slug} | {c.severity} | {c.title} |" for c in CATALOGUE.values()]
    return "\n".join(out) + "\n"


def as_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, default=str) + "\n"


def write_all(report: Report, out_dir: Path) -> dict[str, Path]:
    """Write report.md, report.json and report.html into ``out_dir``; returns their paths by format."""
    from .html import html
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "report.md", "json": out_dir / "report.json", "html": out_dir / "report.html"}
    paths["markdown"].write_text(markdown(report), encoding="utf-8")
    paths["json"].write_text(as_json(report), encoding="utf-8")
    paths["html"].write_text(html(report), encoding="utf-8")
    return paths
