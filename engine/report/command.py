"""`playbook report RUN`: write a run's report (registered lazily by engine/cli.py)."""
from __future__ import annotations

from pathlib import Path

import click

from ..completion import complete_run_ids
from ..journal import write_atomic

REPORT_NAME = "report.html"


def write_report(run_dir: Path, fmt: str = "html", output: Path | None = None) -> Path:
    """Build the report of the run in `run_dir` and write it (default: `report.html`/`report.md` beside the
    journal); returns the path written."""
    from . import build_report, render
    path = output or Path(run_dir) / ("report.md" if fmt == "md" else REPORT_NAME)
    text = render(build_report(Path(run_dir)), fmt)
    write_atomic(path, text, durable=False)  # 0600, as every file of the journal
    return path


@click.command("report")
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_ids)
@click.option("--format", "fmt", type=click.Choice(["html", "md"]), default="html", show_default=True,
              help="html: one self-contained page; md: Markdown.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, allow_dash=True),
              help="Where to write it (`-` for stdout) [report.html or report.md in the run directory].")
@click.option("--runs-dir", type=click.Path(file_okay=False),
              help="The journal directory [PLAYBOOK_RUNS_DIR or .playbook/runs].")
def report_command(run_id: str, fmt: str, output: str | None, runs_dir: str | None) -> None:
    """Write a run's report to attach to a change ticket: plan graph coloured by outcome, timeline of steps,
    waves and namespaces, inputs (secrets masked), approvals, gates with what they measured, rollbacks and the
    downtime verdict (RUN may be a prefix or `last`)."""
    from ..history import find_run
    from ..history import runs_dir_of as _runs_dir
    from . import build_report, render
    run_dir = find_run(_runs_dir(runs_dir), run_id)
    if output == "-":
        click.echo(render(build_report(run_dir), fmt), nl=False)
        return
    click.echo(str(write_report(run_dir, fmt, Path(output) if output else None)))
