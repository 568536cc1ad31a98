"""``playbook emulate``: run the emulator in the foreground, or around one command, and print the downtime
report at the end. Exported as :data:`emulate_command` for the main CLI to register."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
import yaml

from .cluster import ClusterFileError
from .emulator import Emulator
from .faults import FaultError


def _load_fault_file(path: str | None) -> dict | None:
    if not path:
        return None
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise click.UsageError(f"--fault-file {path}: {exc}") from None
    return data.get("faults", data) if isinstance(data, dict) else data


@click.command("emulate", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--cluster", "cluster", type=click.Path(exists=True, dir_okay=False),
              help="Cluster YAML file (default: the shipped demo: Istio 1.19.3 and four namespaces).")
@click.option("--snapshot", type=click.Path(exists=True),
              help="Start from a copy of a real cluster: a `playbook snapshot` file, or `kubectl get -A -o yaml` "
                   "output (a file or a directory of files).")
@click.option("--fault-file", type=click.Path(exists=True, dir_okay=False),
              help="YAML with a faults: block (merged over the cluster file's).")
@click.option("--readiness-delay", type=float, default=None, help="Seconds before a new pod is Ready.")
@click.option("--save-state", type=click.Path(dir_okay=False), default=None,
              help="Write every object as YAML here when done.")
@click.option("--state-dir", type=click.Path(file_okay=False), default=None,
              help="Where the kubeconfig and stand-ins go (default: a temporary directory).")
@click.option("--fleet", metavar="FILE|N",
              help="Emulate a fleet: the clusters of a fleet file (each with its emulate: block), or N demo "
                   "clusters; one kubeconfig holds a context per cluster (docs/fleet.md).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def emulate_command(cluster: str | None, snapshot: str | None, fault_file: str | None, readiness_delay: float | None,
                    save_state: str | None, state_dir: str | None, fleet: str | None,
                    command: tuple[str, ...]) -> None:
    """Run an emulated Kubernetes cluster with Istio, locally.

    With `-- COMMAND ARGS...`, run COMMAND against it and exit with its code; otherwise print the
    environment to export and serve until Ctrl-C. Either way, print the downtime report at the end.
    """
    if cluster and snapshot:
        raise click.UsageError("give --cluster or --snapshot, not both")
    try:
        if fleet:
            from .fleet import start_fleet
            emu = start_fleet(fleet, cluster or snapshot, _load_fault_file(fault_file), readiness_delay, state_dir)
        else:
            emu = Emulator(cluster or snapshot, faults=_load_fault_file(fault_file), state_dir=state_dir,
                           readiness_delay=readiness_delay)
            emu.start()
    except (ClusterFileError, FaultError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    rc = 0
    try:
        if command:
            try:
                rc = subprocess.call(list(command), env={**os.environ, **emu.env()})
            except FileNotFoundError:
                click.echo(f"emulate: command not found: {command[0]}", err=True)
                rc = 127
            except KeyboardInterrupt:
                rc = 130
        else:
            click.echo(f"Emulated {emu.describe() if fleet else 'cluster serving at ' + emu.url}; "
                       "export this and run kubectl, istioctl, helm:")
            for key, value in emu.env().items():
                click.echo(f"export {key}={shlex.quote(value)}")
            click.echo("Press Ctrl-C to stop.")
            sys.stdout.flush()
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
        click.echo(emu.format_downtime_report(), err=bool(command))
        if save_state:
            emu.save_state(save_state)
            click.echo(f"State saved to {save_state}", err=bool(command))
    finally:
        emu.stop()
    sys.exit(rc)


def main() -> None:  # pragma: no cover - convenience entry for `python -m engine.emulator.cli`
    emulate_command()


if __name__ == "__main__":  # pragma: no cover
    main()
