"""`playbook fleet ...`: the command group, registered lazily by engine/cli.py. Parses options only."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from ..cli import _confirm_fn as _confirm
from ..inputs import parse_vars as _vars
from ..temporal.options import connection_options
from . import commands as cmds
from .commands import FleetRequest

_ENGINE = click.option("--engine", type=click.Choice(["local", "temporal"]), default="local", show_default=True,
                       help="temporal: a Temporal server holds the fleet run, one parent workflow with a child "
                            "workflow per cluster, run by `playbook worker`s (docs/temporal.md).")
_UI = click.option("--temporal-ui", help="With --engine temporal: the Web UI address, for the link [TEMPORAL_UI].")


def _fleets_option(fn):
    return click.option("--fleets-dir", type=click.Path(file_okay=False),
                        help="Where fleet journals go [PLAYBOOK_FLEETS_DIR or .playbook/fleets].")(fn)


_OUTPUT = click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="text for people (live on a terminal), json for one event per line.")


@click.group("fleet")
def fleet_group() -> None:
    """Run one playbook across a fleet of clusters, in waves, halted and rolled back as one change."""


@fleet_group.command("plan")
@click.argument("fleet", type=click.Path(dir_okay=False))
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Set an input for every cluster (repeatable).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig for every cluster.")
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid"]), default="text", show_default=True)
@click.option("--full", is_flag=True, help="Print each cluster's whole rendered plan, not its summary.")
def plan_command(fleet: str, playbook: str, var: tuple, kubeconfig: str | None, fmt: str, full: bool) -> None:
    """Dry run: the waves, what runs between them, and each cluster's rendered plan summary."""
    plan = cmds.load_plan(Path(fleet))
    if fmt == "mermaid":
        click.echo(cmds.plan_mermaid(plan))
        return
    values, _ = _vars(var)
    cmds.check_gates(plan)
    click.echo(cmds.plan_text(plan, cmds.preflight(plan, Path(playbook), values, kubeconfig), full=full))


@fleet_group.command("run")
@click.argument("fleet", type=click.Path(dir_okay=False))
@click.argument("playbook", type=click.Path(dir_okay=False))
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Set an input for every cluster (repeatable).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False),
              help="Kubeconfig for every cluster (beats the fleet file's; default $KUBECONFIG).")
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation (between waves and in runs).")
@click.option("--max-parallel", type=click.IntRange(1, 256), default=None, help="Most steps at once in a cluster.")
@click.option("--no-rollback", is_flag=True, help="On a halt, leave the upgraded clusters (`fleet rollback` later).")
@click.option("--on-halt", "on_halt", type=click.Choice(["finish", "stop"]), default=None,
              help="On a halt, running clusters finish or are stopped [the fleet file's on_halt.running].")
@_OUTPUT
@_fleets_option
@_ENGINE
@click.option("--task-queue", default="playbook", show_default=True, help="With --engine temporal: the workers' queue.")
@click.option("--detach", is_flag=True, help="With --engine temporal: print the fleet run's id and return at once.")
@connection_options
def run_command(fleet: str, playbook: str, var: tuple, kubeconfig: str | None, yes: bool, max_parallel: int | None,
                no_rollback: bool, on_halt: str | None, output: str, fleets_dir: str | None, engine: str,
                task_queue: str, detach: bool, **temporal) -> None:
    """Run PLAYBOOK on every cluster of FLEET, wave after wave, each cluster journaled on its own."""
    values, raw = _vars(var)
    req = FleetRequest(Path(fleet), Path(playbook), values, raw, kubeconfig=kubeconfig, yes=yes,
                       max_parallel=max_parallel, no_rollback=no_rollback, on_halt_running=on_halt, output=output,
                       confirm=_confirm(yes))
    if engine == "temporal":
        from ..temporal.fleet_commands import fleet_run
        fleet_run(req, cmds.fleets_dir(fleets_dir), task_queue, detach, temporal)
    sys.exit(cmds.run_fleet(req, cmds.fleets_dir(fleets_dir)))


@fleet_group.command("resume")
@click.argument("fleet_run", metavar="FLEET_RUN")
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Give a secret input again (the journal masks them).")
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation.")
@click.option("--on-halt", "on_halt", type=click.Choice(["finish", "stop"]), default=None)
@_OUTPUT
@_fleets_option
def resume_command(fleet_run: str, var: tuple, yes: bool, on_halt: str | None, output: str,
                   fleets_dir: str | None) -> None:
    """Continue a halted, stopped or killed fleet run: succeeded clusters are kept, cut-short ones resumed."""
    values, raw = _vars(var)
    req = FleetRequest(Path("."), Path("."), values, raw, yes=yes, on_halt_running=on_halt, output=output,
                       confirm=_confirm(yes))
    sys.exit(cmds.resume_fleet(req, cmds.fleets_dir(fleets_dir), fleet_run))


@fleet_group.command("rollback")
@click.argument("fleet_run", metavar="FLEET_RUN")
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Give a secret input again (the journal masks them).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@_OUTPUT
@_fleets_option
def rollback_command(fleet_run: str, var: tuple, yes: bool, output: str, fleets_dir: str | None) -> None:
    """Roll back every cluster a fleet run changed, newest completion first, each from its own journal."""
    values, raw = _vars(var)
    req = FleetRequest(Path("."), Path("."), values, raw, yes=yes, output=output)
    sys.exit(cmds.rollback_fleet(req, cmds.fleets_dir(fleets_dir), fleet_run))


@fleet_group.command("status")
@click.argument("fleet_run", metavar="FLEET_RUN", default="last")
@_fleets_option
@_ENGINE
@_UI
@connection_options
def status_command(fleet_run: str, fleets_dir: str | None, engine: str, temporal_ui: str | None,
                   **temporal) -> None:
    """The clusters of a fleet run by wave, with their status and current step [last]."""
    if engine == "temporal":
        from ..temporal.fleet_commands import fleet_view
        fleet_view("status", fleet_run, temporal_ui, temporal)
    click.echo(cmds.status_text(cmds.fleets_dir(fleets_dir), fleet_run))


@fleet_group.command("show")
@click.argument("fleet_run", metavar="FLEET_RUN", default="last")
@_fleets_option
@_ENGINE
@_UI
@connection_options
def show_command(fleet_run: str, fleets_dir: str | None, engine: str, temporal_ui: str | None,
                 **temporal) -> None:
    """A fleet run's timeline (waves, clusters, gates, halt, rollbacks) and its cluster table [last]."""
    if engine == "temporal":
        from ..temporal.fleet_commands import fleet_view
        fleet_view("show", fleet_run, temporal_ui, temporal)
    click.echo(cmds.show_text(cmds.fleets_dir(fleets_dir), fleet_run))


@fleet_group.command("list")
@_fleets_option
@_ENGINE
@connection_options
def list_command(fleets_dir: str | None, engine: str, **temporal) -> None:
    """The fleet runs in the journal (or on the Temporal server), with their status."""
    if engine == "temporal":
        from ..temporal.fleet_commands import fleet_view
        fleet_view("list", None, None, temporal)
    click.echo(cmds.list_text(cmds.fleets_dir(fleets_dir)))

