"""The `snapshot` and `rehearse` commands (registered lazily by cli.py: they import the emulator)."""
from __future__ import annotations

import sys

import click

from ..snapshot import take_snapshot, write_snapshot


def _progress_line(err: bool = True):
    """A progress line on stderr: rewritten in place on a terminal, one line per resource otherwise."""
    tty = sys.stderr.isatty()

    def show(done: int, planned: int, resource: str, total: int) -> None:
        text = f"snapshot: [{done}/{planned}] {resource}: {total} objects read"
        if tty:
            click.echo(f"\r\033[K{text}", nl=done == planned, err=err)
        else:
            click.echo(text, err=err)
    return show


@click.command("snapshot")
@click.option("--context", help="Kubernetes context to read [the current context].")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig [KUBECONFIG or ~/.kube/config].")
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False),
              help="File to write (`-` for stdout).")
def snapshot_command(context: str | None, kubeconfig: str | None, output: str) -> None:
    """Read a live cluster (read-only) into a snapshot file that `rehearse` and `emulate --snapshot` load.

    Reads nodes, namespaces, workloads and their pods, PDBs, HPAs, services, configmaps, webhook
    configurations, CRDs and Istio resources through the Kubernetes client. Secret values are never read.
    """
    snap = take_snapshot(context=context, kubeconfig=kubeconfig, progress=_progress_line())
    path = write_snapshot(snap, output)
    for resource, why in sorted(snap.unreadable.items()):
        click.echo(f"snapshot: {resource} not read: {why}", err=True)
    where = "stdout" if output == "-" else str(path)
    click.echo(f"snapshot: {len(snap.items)} objects of {snap.context or snap.server} "
               f"({snap.server_version}) written to {where}", err=True)


@click.command("rehearse")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--snapshot", "source", required=True, type=click.Path(exists=True),
              help="The cluster to copy: a `playbook snapshot` file, `kubectl get -A -o yaml` output (a file or a "
                   "directory), or an emulator cluster file.")
@click.option("--vars-file", multiple=True, type=click.Path(dir_okay=False),
              help="YAML file of input values (repeatable; --var wins).")
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Set an input; VALUE is read as YAML (repeatable).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for report.md, report.json, report.html and the run's journal "
                   "[.playbook/rehearsals/<time>].")
@click.option("--readiness-delay", type=float, default=0.1, show_default=True,
              help="Seconds the emulator takes to make a new pod Ready (the estimate uses the snapshot's own).")
@click.option("--max-parallel", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Most steps running at once.")
@click.option("--show-run", is_flag=True, help="Stream the run's steps as `run` shows them.")
@click.option("--context", hidden=True)
@click.option("--kubeconfig", hidden=True)
def rehearse_command(file: str, source: str, vars_file: tuple, var: tuple, out_dir: str | None,
                     readiness_delay: float, max_parallel: int, show_run: bool, context: str | None,
                     kubeconfig: str | None) -> None:
    """Rehearse a playbook on an emulated copy of a cluster and report what would go wrong.

    Writes a verdict and findings (each with a stable code, the objects involved and the fix), downtime per
    workload and a duration estimate for the real cluster. Never contacts the live cluster; confirmations
    are answered yes.
    """
    from pathlib import Path

    from ..inputs import parse_vars
    from ..errors import UsageError
    from ..inputs import read_vars_files
    from .rehearsal import RehearsalOptions, default_out_dir, rehearse
    from .report import text, write_all
    if context or kubeconfig:
        raise UsageError("rehearse never talks to a live cluster: drop --context/--kubeconfig "
                         "(take a snapshot with `playbook snapshot --context ...` and pass it with --snapshot)")
    values, raw = parse_vars(var)
    out = Path(out_dir) if out_dir else default_out_dir()
    click.echo(f"rehearse: copying {source} into the emulator; the live cluster is not contacted", err=True)
    urls = sorted(k for k, v in values.items() if isinstance(v, str) and v.startswith(("http://", "https://")))
    if urls:
        click.echo(f"rehearse: note: steps using {', '.join(urls)} call those URLs for real; leave them empty to "
                   f"keep the rehearsal to the emulator", err=True)
    options = RehearsalOptions(vars=values, raw_vars=raw, file_vars=read_vars_files(vars_file),
                               readiness_delay=readiness_delay, max_parallel=max_parallel,
                               stream=sys.stdout if show_run else None, quiet=not show_run)
    if not show_run:
        click.echo("rehearse: running the playbook on the copy (--show-run streams its steps)", err=True)
    report = rehearse(file, source, out, options)
    paths = write_all(report, out)
    click.echo(text(report))
    click.echo("\nreport: " + ", ".join(str(p) for p in paths.values()))
    sys.exit(0 if report.verdict != "no-go" else 1)
