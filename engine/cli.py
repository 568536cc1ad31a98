"""The `playbook` command: a thin layer that parses options and calls the engine."""
from __future__ import annotations

import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from . import __version__
from .completion import complete_input_names, complete_run_ids
from .errors import PlaybookError, UsageError
from .temporal.options import connection_options as temporal_connection_options


def _fail(err: PlaybookError) -> None:
    for line in str(err).splitlines():
        click.echo(f"error: {line}", err=True)
    sys.exit(err.exit_code)


class _Group(click.Group):
    """Turns user errors into located one-liners with their exit codes; bugs keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlaybookError as err:
            _fail(err)

    # Optional commands are imported only when named (or listed by --help): `emulate` pulls in aiohttp and the
    # emulator, a few hundred ms that `playbook --version`, `validate` and `run` should not pay.
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | {n for n in _OPTIONAL if _load_optional(n) is not None})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in _OPTIONAL:
            command = _load_optional(cmd_name)
        return command


def _prepare(file: str, var: tuple[str, ...], vars_file: tuple[str, ...], options, out_dir: Path | None = None):
    from .inputs import parse_vars, read_vars_files
    from .prepare import prepare
    cli_vars, cli_raw = parse_vars(var)
    return prepare(file, cli_vars=cli_vars, cli_raw=cli_raw, file_vars=read_vars_files(vars_file), options=options,
                   out_dir=out_dir)


def _var_options(fn):
    fn = click.option("--vars-file", multiple=True, type=click.Path(dir_okay=False),
                      help="YAML file of input values (repeatable; --var wins).")(fn)
    fn = click.option("--var", multiple=True, metavar="KEY=VALUE", shell_complete=complete_input_names,
                      help="Set an input; VALUE is read as YAML (repeatable).")(fn)
    return fn


def _verbosity(fn):
    fn = click.option("--quiet", "-q", is_flag=True, hidden=True, expose_value=False,
                      help="One line per step (the default; kept for scripts that pass it).")(fn)
    fn = click.option("--verbose", "-v", is_flag=True,
                      help="Stream every step's output (by default: one line per step, a failed step's last "
                           "lines; the run directory keeps all output).")(fn)
    return fn


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="playbook")
def cli() -> None:
    """Run declarative YAML playbooks: zero-downtime changes to a live service mesh, rolled back on failure."""


def new_run_id() -> str:
    # os.urandom is what secrets.token_hex reads; the secrets module (hmac, random) is not needed to start.
    return time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(3).hex()


def _runs_dir(option: str | None) -> Path:
    from .history import runs_dir_of
    return runs_dir_of(option)


def _confirm_fn(yes: bool):
    def ask(prompt: str) -> bool | None:
        if yes:
            return True
        if not sys.stdin.isatty():
            return None
        try:
            return click.confirm(prompt, default=False)
        except click.Abort:  # Ctrl-C or Ctrl-D at the prompt: an interrupt, which rolls back
            raise KeyboardInterrupt from None
    return ask


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_var_options
@click.option("--dry-run", is_flag=True, help="Print the planned graph with every rendered command; run nothing.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation.")
@click.option("--max-parallel", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Most steps running at once.")
@click.option("--no-rollback", is_flag=True, help="On failure, leave things as they are (roll back later).")
@click.option("--context", help="Kubernetes context for cluster plugins.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig for cluster plugins.")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text for people, json for one event per line.")
@click.option("--emulate", is_flag=True, help="Run against the embedded cluster emulator (demo cluster).")
@click.option("--emulate-cluster", type=click.Path(dir_okay=False), help="Cluster file for --emulate.")
@click.option("--snapshot", type=click.Path(exists=True),
              help="With --emulate: start from this copy of a real cluster (`playbook snapshot`, or kubectl output).")
@click.option("--server-dry-run", is_flag=True, help="With --dry-run: also ask the API server to check manifests.")
@click.option("--runs-dir", type=click.Path(file_okay=False),
              help="Where run directories go [PLAYBOOK_RUNS_DIR or .playbook/runs].")
@click.option("--engine", type=click.Choice(["local", "temporal"]), default="local", show_default=True,
              help="local: this process runs the playbook; temporal: a Temporal server holds the run and "
                   "`playbook worker`s run its steps (docs/temporal.md).")
@click.option("--task-queue", default="playbook", show_default=True, help="With --engine temporal: the workers' queue.")
@click.option("--detach", is_flag=True, help="With --engine temporal: print the run id and return at once.")
@temporal_connection_options
@_verbosity
def run(file: str, var: tuple, vars_file: tuple, dry_run: bool, yes: bool, max_parallel: int, no_rollback: bool,
        context: str | None, kubeconfig: str | None, output: str, emulate: bool, emulate_cluster: str | None,
        snapshot: str | None, server_dry_run: bool, runs_dir: str | None, verbose: bool, engine: str,
        task_queue: str, detach: bool, **temporal) -> None:
    """Run a playbook (or with --dry-run, print its plan)."""
    from .api import RunOptions
    if snapshot and emulate_cluster:
        raise UsageError("give --emulate-cluster or --snapshot, not both")
    emulate_cluster = emulate_cluster or snapshot
    if (emulate or emulate_cluster) and (context or kubeconfig):
        raise UsageError("--emulate runs against the embedded emulator; drop --context/--kubeconfig")
    options = RunOptions(dry_run=dry_run, server_dry_run=server_dry_run, context=context, kubeconfig=kubeconfig,
                         interactive=sys.stdin.isatty(), assume_yes=yes)
    with ExitStack() as stack:
        emulator = None
        if emulate or emulate_cluster:
            emulator = _start_emulator(emulate_cluster, stack)
            options.env.update(emulator.env())
            options.kubeconfig = str(emulator.kubeconfig)
        run_id = new_run_id()
        run_dir = _runs_dir(runs_dir) / run_id
        # A dry run renders template files into a temporary directory: it leaves no run directory behind.
        prepared = _prepare(file, var, vars_file, options, out_dir=None if dry_run or engine == "temporal" else run_dir / "rendered")
        if dry_run:
            from .planview import dry_run_text
            click.echo(dry_run_text(prepared, max_parallel))
            return
        if engine == "temporal":
            from .temporal.commands import run_temporal
            from .presentation import Presentation
            from .temporal.commands import Following
            run_temporal(file, var, vars_file, options, run_id, max_parallel=max_parallel, no_rollback=no_rollback,
                         task_queue=task_queue, detach=detach, has_secrets=bool(prepared.inputs.masker),
                         following=Following(prepared, Presentation(output=output, quiet=not verbose),
                                             _runs_dir(runs_dir)), **temporal)
        from .runs import Attempt, Presentation, start_run
        attempt = Attempt(max_parallel=max_parallel, no_rollback=no_rollback, confirm=_confirm_fn(yes))
        code = start_run(prepared, _runs_dir(runs_dir), run_id, attempt, Presentation(output=output, quiet=not verbose),
                         extra_meta={"context": context, "kubeconfig": kubeconfig, "emulate": emulator is not None})
        if emulator is not None:
            from .downtime import record_verdict
            verdict = record_verdict(_runs_dir(runs_dir), run_id, emulator.downtime_report(),
                                     emulator.format_downtime_report())
            if output == "text":
                click.echo(verdict["text"])
        _write_report(run_dir, output)
    sys.exit(code)


def _write_report(run_dir: Path, output: str) -> None:
    """The run's report.html, rewritten after each run, resume or rollback; its path ends the text output."""
    from .report.command import write_report
    try:
        path = write_report(run_dir)
    except (OSError, PlaybookError) as err:  # the run's exit code matters more than its report
        click.echo(f"report: not written ({err}); try `playbook report {run_dir.name}`", err=True)
        return
    if output == "text":
        click.echo(f"report: {path}")


# A dump of a real cluster runs to tens of megabytes; more than this is not a cluster file.
CLUSTER_FILE_LIMIT = 256 * 1024 * 1024


def _load_cluster(path: str):
    """The cluster file given to --emulate-cluster, loaded before anything runs; any fault in it is exit 2."""
    from .emulator import ClusterFileError, load_cluster
    from .loader import read_text_bounded
    if not Path(path).is_dir():
        read_text_bounded(path, CLUSTER_FILE_LIMIT)  # missing, unreadable, endless (/dev/zero) or not text
    try:
        return load_cluster(path)
    except ClusterFileError as err:
        one_line = "; ".join(part.strip() for part in str(err).splitlines() if part.strip())
        raise UsageError(f"--emulate-cluster: {one_line}", hint="see docs/emulator.md for the cluster file") from None
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as err:
        # The loader trusts the shape of what it reads; a file of another shape is the user's, not a bug.
        raise UsageError(f"--emulate-cluster: {path}: not a cluster file the emulator can load "
                         f"({type(err).__name__}: {err})", hint="see docs/emulator.md for the cluster file") from None


def _start_emulator(cluster: str | None, stack: ExitStack):
    from .emulator import Emulator
    emulator = Emulator(cluster=_load_cluster(cluster) if cluster is not None else None)
    emulator.start()
    stack.callback(emulator.stop)
    click.echo(f"emulator: serving a {'demo' if cluster is None else cluster} cluster at {emulator.url} "
               f"(kubeconfig {emulator.kubeconfig}); no real cluster is touched", err=True)
    return emulator


def _journal_options(fn):
    fn = click.option("--runs-dir", type=click.Path(file_okay=False),
                      help="The journal directory [PLAYBOOK_RUNS_DIR or .playbook/runs].")(fn)
    return fn


@cli.command("runs")
@_journal_options
@click.option("--engine", type=click.Choice(["local", "temporal"]), default="local", show_default=True,
              help="temporal: the runs a Temporal server holds.")
@temporal_connection_options
def runs_command(runs_dir: str | None, engine: str, **temporal) -> None:
    """List the runs in the journal: status, age, playbook, failed step."""
    if engine == "temporal":
        from .temporal.commands import runs_temporal
        runs_temporal(**temporal)
    from .runs import format_runs, list_runs
    rows = list_runs(_runs_dir(runs_dir))
    click.echo(format_runs(rows) if rows else f"no runs in {_runs_dir(runs_dir)}")


@cli.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_ids)
@_journal_options
@click.option("--engine", type=click.Choice(["local", "temporal"]), default="local", show_default=True,
              help="temporal: a run a Temporal server holds (its steps, approvals and Web UI link).")
@click.option("--temporal-ui", help="Temporal Web UI address, for the run's link [TEMPORAL_UI].")
@temporal_connection_options
def show(run_id: str, runs_dir: str | None, engine: str, temporal_ui: str | None, **temporal) -> None:
    """Show one run: inputs, timeline of every event, and each step's status (RUN may be a prefix or `last`)."""
    if engine == "temporal":
        from .temporal.commands import show_temporal
        show_temporal(run_id, temporal_ui, **temporal)
    from .runs import find_run, show_run
    click.echo(show_run(find_run(_runs_dir(runs_dir), run_id)))


@cli.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_ids)
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Give a secret input again (the journal masks them).")
@click.option("--yes", "-y", is_flag=True, help="Answer yes to every confirmation.")
@click.option("--max-parallel", type=click.IntRange(1, 256), default=None, help="Most steps at once [as the run].")
@click.option("--no-rollback", is_flag=True, help="On failure, leave things as they are (roll back later).")
@click.option("--context", help="Kubernetes context [as the run].")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig [as the run].")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_verbosity
@_journal_options
def resume(run_id: str, var: tuple, yes: bool, max_parallel: int | None, no_rollback: bool, context: str | None,
           kubeconfig: str | None, output: str, verbose: bool, runs_dir: str | None) -> None:
    """Continue a failed, interrupted or killed run: keep what succeeded, re-check guards, run the rest."""
    from .api import RunOptions
    from .runs import Attempt, Presentation, find_run, resume_run
    from .inputs import parse_vars
    cli_vars, cli_raw = parse_vars(var)
    options = RunOptions(context=context, kubeconfig=kubeconfig, interactive=sys.stdin.isatty(), assume_yes=yes)
    attempt = Attempt(max_parallel=max_parallel or 0, no_rollback=no_rollback, confirm=_confirm_fn(yes))
    code = resume_run(_runs_dir(runs_dir), run_id, cli_vars=cli_vars, cli_raw=cli_raw, options=options,
                      attempt=attempt, present=Presentation(output=output, quiet=not verbose))
    _write_report(find_run(_runs_dir(runs_dir), run_id), output)
    sys.exit(code)


@cli.command()
@click.argument("run_id", metavar="RUN", shell_complete=complete_run_ids)
@click.option("--var", multiple=True, metavar="KEY=VALUE", help="Give a secret input again (the journal masks them).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--context", help="Kubernetes context [as the run].")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Kubeconfig [as the run].")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_verbosity
@_journal_options
@click.option("--engine", type=click.Choice(["local", "temporal"]), default="local", show_default=True,
              help="temporal: an ended run a Temporal server holds; its workers run the compensations.")
@temporal_connection_options
def rollback(run_id: str, var: tuple, yes: bool, context: str | None, kubeconfig: str | None, output: str,
             verbose: bool, runs_dir: str | None, engine: str, **temporal) -> None:
    """Undo a run (finished, failed, interrupted or killed): each compensation not yet done, newest first."""
    if engine == "temporal":
        if var or context or kubeconfig:
            raise UsageError("--var, --context and --kubeconfig are the run's own on Temporal: its workers "
                             "roll it back with the inputs and cluster it ran with")
        from .temporal.commands import rollback_temporal
        rollback_temporal(run_id, yes, **temporal)
    from .api import RunOptions
    from .runs import Presentation, find_run, rollback_run
    from .inputs import parse_vars
    cli_vars, cli_raw = parse_vars(var)
    options = RunOptions(context=context, kubeconfig=kubeconfig, interactive=sys.stdin.isatty(), assume_yes=yes)
    code = rollback_run(_runs_dir(runs_dir), run_id, cli_vars=cli_vars, cli_raw=cli_raw, options=options,
                        yes=yes, present=Presentation(output=output, quiet=not verbose))
    _write_report(find_run(_runs_dir(runs_dir), run_id), output)
    sys.exit(code)


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_var_options
def validate(file: str, var: tuple, vars_file: tuple) -> None:
    """Check a playbook: schema, plugin arguments, templates, step references, graph and inputs; every
    problem at once. Required inputs not given are checked as placeholders. Runs nothing."""
    from .api import RunOptions
    from .errors import ValidationError
    from .inputs import read_vars_files
    from .validation import validate_file
    from .reporter import plural
    from .inputs import parse_vars
    cli_vars, cli_raw = parse_vars(var)
    found = validate_file(file, cli_vars=cli_vars, cli_raw=cli_raw, file_vars=read_vars_files(vars_file),
                          options=RunOptions(dry_run=True))
    if found.problems:
        raise ValidationError(problems=found.problems)
    plan = found.prepared.plan
    click.echo(f"{file}: valid — {plural(len(plan.nodes), 'step')} in {plural(len(plan.waves()), 'wave')}")
    if found.lacking:
        lacking = ", ".join(found.lacking)
        click.echo(f"  without {lacking} (required, not given): checked everything that does not depend on "
                   f"{'its value' if len(found.lacking) == 1 else 'their values'}; pass "
                   + " ".join(f"--var {n}=..." for n in found.lacking) + " to check the rest")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_var_options
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot", "json"]), default="text",
              show_default=True)
def graph(file: str, var: tuple, vars_file: tuple, fmt: str) -> None:
    """Print the step graph (Mermaid renders in Markdown viewers; DOT in Graphviz)."""
    from .planview import FORMATS
    from .api import RunOptions
    prepared = _prepare(file, var, vars_file, RunOptions(dry_run=True))
    click.echo(FORMATS[fmt](prepared))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: name, summary and `with` schema.")
def plugins(as_json: bool) -> None:
    """List the installed step plugins and their arguments."""
    from .plugins.registry import PluginRegistry
    items = PluginRegistry().catalogue()
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
        if "broken" in item:
            click.echo(f"{item['name']}: BROKEN — {item['broken']}")
            continue
        click.echo(f"{item['name']}: {item['summary']}")
        props = item["schema"].get("properties", {})
        required = set(item["schema"].get("required", []))
        for arg, sub in props.items():
            kind = sub.get("type") or ("one of several forms" if "oneOf" in sub else "any")
            kind = "|".join(kind) if isinstance(kind, list) else kind
            desc = f" — {sub['description']}" if sub.get("description") else ""
            click.echo(f"    {arg}{' (required)' if arg in required else ''}: {kind}{desc}")
        if item["example"]:
            click.echo(f"    example: {item['example']}")


_OPTIONAL = {"emulate": (".emulator.cli", "emulate_command"),
             "snapshot": (".rehearse.commands", "snapshot_command"),
             "fleet": (".fleet.cli", "fleet_group"),
             "rehearse": (".rehearse.commands", "rehearse_command"),
             "report": (".report.command", "report_command"),
             "worker": (".temporal.commands", "worker_command"),
             "approve": (".temporal.commands", "approve_command"),
             "reject": (".temporal.commands", "reject_command")}


def _load_optional(name: str) -> click.Command | None:
    """Register an optional command on first use; None when its module cannot be imported."""
    if name in cli.commands:
        return cli.commands[name]
    module_name, attr = _OPTIONAL[name]
    try:
        import importlib
        command = getattr(importlib.import_module(module_name, __package__), attr)
    except ImportError:
        return None
    cli.add_command(command, name)
    return command


def main() -> None:
    """Console entry point."""
    try:
        cli.main(standalone_mode=True)
    except PlaybookError as err:  # raised outside a command (e.g. while parsing)
        _fail(err)


if __name__ == "__main__":
    main()
