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
