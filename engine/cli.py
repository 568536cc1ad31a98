"""The `playbook` command: a thin layer that parses options and calls the engine."""
from __future__ import annotations

import json
import os
import secrets
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import EXIT_INVALID, PlaybookError, UsageError


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


def _parse_vars(pairs: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, str]]:
    from .inputs import parse_var
    values, raw = {}, {}
    for pair in pairs:
        key, value = parse_var(pair)
        values[key] = value
        raw[key] = pair.partition("=")[2]
    return values, raw


def _prepare(file: str, var: tuple[str, ...], vars_file: tuple[str, ...], options, out_dir: Path | None = None):
    from .inputs import read_vars_files
    from .prepare import prepare
    cli_vars, cli_raw = _parse_vars(var)
    return prepare(file, cli_vars=cli_vars, cli_raw=cli_raw, file_vars=read_vars_files(vars_file), options=options,
                   out_dir=out_dir)


def _var_options(fn):
    fn = click.option("--vars-file", multiple=True, type=click.Path(dir_okay=False),
                      help="YAML file of input values (repeatable; --var wins).")(fn)
    fn = click.option("--var", multiple=True, metavar="KEY=VALUE",
                      help="Set an input; VALUE is read as YAML (repeatable).")(fn)
    return fn


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="playbook")
def cli() -> None:
    """Run declarative YAML playbooks: zero-downtime changes to a live service mesh, rolled back on failure."""


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def _runs_dir(option: str | None) -> Path:
    return Path(option or os.environ.get("PLAYBOOK_RUNS_DIR") or ".playbook/runs")


def _confirm_fn(yes: bool):
    def ask(prompt: str) -> bool | None:
        if yes:
            return True
        if not sys.stdin.isatty():
            return None
        return click.confirm(prompt, default=False)
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
@click.option("--server-dry-run", is_flag=True, help="With --dry-run: also ask the API server to check manifests.")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where run directories go [.playbook/runs].")
@click.option("--quiet", "-q", is_flag=True, help="Do not stream step output (shown for failed steps).")
def run(file: str, var: tuple, vars_file: tuple, dry_run: bool, yes: bool, max_parallel: int, no_rollback: bool,
        context: str | None, kubeconfig: str | None, output: str, emulate: bool, emulate_cluster: str | None,
        server_dry_run: bool, runs_dir: str | None, quiet: bool) -> None:
    """Run a playbook (or with --dry-run, print its plan)."""
    from .plugins.base import RunOptions
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
        prepared = _prepare(file, var, vars_file, options, out_dir=run_dir / "rendered")
        if dry_run:
            from .planview import dry_run_text
            click.echo(dry_run_text(prepared, max_parallel))
            return
        code = _execute(prepared, run_dir, run_id, max_parallel=max_parallel, no_rollback=no_rollback, yes=yes,
                        output=output, quiet=quiet)
        if emulator is not None and output == "text":
            click.echo(emulator.format_downtime_report())
    sys.exit(code)


def _start_emulator(cluster: str | None, stack: ExitStack):
    from .emulator import Emulator
    emulator = Emulator(cluster=cluster)
    emulator.start()
    stack.callback(emulator.stop)
    click.echo(f"emulator: serving a {'demo' if cluster is None else cluster} cluster at {emulator.url} "
               f"(kubeconfig {emulator.kubeconfig}); no real cluster is touched", err=True)
    return emulator


def _execute(prepared, run_dir: Path, run_id: str, *, max_parallel: int, no_rollback: bool, yes: bool,
             output: str, quiet: bool) -> int:
    from .events import Fanout
    from .reporter import TextReporter, summary_table
    from .runner import Runner
    run_dir.mkdir(parents=True, exist_ok=True)
    sink = Fanout(TextReporter(show_output=not quiet) if output == "text" else JsonLinesReporter())
    runner = Runner(prepared, sink=sink, run_dir=run_dir, max_parallel=max_parallel, no_rollback=no_rollback,
                    confirm=_confirm_fn(yes))
    presses = {"n": 0}

    def on_signal(signum, frame) -> None:
        presses["n"] += 1
        name = signal.Signals(signum).name
        if presses["n"] == 1:
            click.echo(f"\n{name}: no new steps; stopping running ones, then rolling back "
                       f"(again to abandon the rollback)", err=True)
            runner.interrupt()
        else:
            click.echo(f"\n{name} again: abandoning the rest of the rollback", err=True)
            runner.abandon.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = runner.run()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if output == "text":
        click.echo("")
        click.echo(summary_table(summary))
        click.echo(f"run {run_id}: {run_dir}")
    return summary.exit_code


class JsonLinesReporter:
    """One JSON object per event on stdout, for CI systems."""

    def emit(self, event) -> None:
        sys.stdout.write(json.dumps({"event": event.kind, "step": event.key, "time": round(event.time, 3),
                                     **event.data}, default=str) + "\n")
        sys.stdout.flush()


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_var_options
def validate(file: str, var: tuple, vars_file: tuple) -> None:
    """Check a playbook: schema, plugin arguments, templates, graph and inputs. Runs nothing."""
    from .plugins.base import RunOptions
    prepared = _prepare(file, var, vars_file, RunOptions(dry_run=True))
    n = len(prepared.plan.nodes)
    click.echo(f"{file}: valid — {n} step{'s' if n != 1 else ''} in {len(prepared.plan.waves())} waves")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@_var_options
@click.option("--format", "fmt", type=click.Choice(["text", "mermaid", "dot", "json"]), default="text",
              show_default=True)
def graph(file: str, var: tuple, vars_file: tuple, fmt: str) -> None:
    """Print the step graph (Mermaid renders in Markdown viewers; DOT in Graphviz)."""
    from .planview import FORMATS
    from .plugins.base import RunOptions
    prepared = _prepare(file, var, vars_file, RunOptions(dry_run=True))
    click.echo(FORMATS[fmt](prepared))


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable: name, summary and `with` schema.")
def plugins(as_json: bool) -> None:
    """List the installed step plugins and their arguments."""
    from .plugins.registry import PluginRegistry
    registry = PluginRegistry()
    items = []
    for name in registry.names():
        plugin = registry.get(name)
        items.append({"name": name, "summary": plugin.summary, "schema": plugin.schema, "example": plugin.example})
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    for item in items:
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


def _register_optional() -> None:
    try:
        from .emulator.cli import emulate_command
    except ImportError:
        return
    cli.add_command(emulate_command, "emulate")


_register_optional()


def main() -> None:
    """Console entry point."""
    try:
        cli.main(standalone_mode=True)
    except PlaybookError as err:  # raised outside a command (e.g. while parsing)
        _fail(err)


if __name__ == "__main__":
    main()
