"""`playbook worker` and the `--engine temporal` side of `playbook run`: click glue over client.py."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import os
import sys
from typing import Any, Callable
from pathlib import Path

import click

from .client import DEFAULT_QUEUE, Connection, connection_from_env, decide, follow, submit
from ..errors import PlaybookError
from .host import RunRequest
from .options import connection_options


def connection(temporal_address, namespace, temporal_tls, temporal_tls_cert, temporal_tls_key, temporal_tls_ca,
               temporal_api_key, temporal_key_file=None) -> Connection:
    return connection_from_env(address=temporal_address, namespace=namespace, tls=temporal_tls,
                               tls_cert=temporal_tls_cert, tls_key=temporal_tls_key, tls_ca=temporal_tls_ca,
                               api_key=temporal_api_key, key_file=temporal_key_file)


@dataclasses.dataclass
class Following:
    """How a followed run is shown and kept here: as a local run is (its reporter: text, live or JSON lines;
    a journal in the local runs directory, for `show`, `runs` and `report`)."""

    prepared: Any
    present: Any  # engine.presentation.Presentation
    runs_dir: Path


def run_on_temporal(conn: Connection, request: RunRequest, run_id: str, task_queue: str, detach: bool,
                    following: Following | None = None) -> int:
    """Submit the run; follow it to its end unless `detach`. Returns the exit code."""
    say = following.present.say if following and following.present.output == "json" else click.echo

    async def go() -> int:
        client = await submit(conn, request, run_id, task_queue)
        say(f"run {run_id} submitted to Temporal at {conn.address} (namespace {conn.namespace}, "
            f"task queue {task_queue})")
        from .views import ui_link
        link = ui_link(os.environ.get("TEMPORAL_UI"), conn.namespace, run_id)
        if link:
            say(f"web UI: {link}")
        if detach:
            click.echo(run_id)
            return 0
        if following is None:
            return await follow(client, run_id, click.echo)
        return await _follow_as_local(client, conn, request, run_id, task_queue, following, say)
    try:
        return asyncio.run(go())
    except KeyboardInterrupt:  # the run is the server's: Ctrl-C stops following it, not the run
        click.echo(f"stopped following run {run_id}; it goes on (playbook show {run_id} --engine temporal)",
                   err=True)
        return EXIT_DETACHED


EXIT_DETACHED = 130  # as a shell reports Ctrl-C; not a run's exit code


async def _follow_as_local(client: Any, conn: Connection, request: RunRequest, run_id: str, task_queue: str,
                           following: Following, say: Callable[[str], None]) -> int:
    """Follow the run through the local run's reporter and a local journal mirror; the summary table, the run
    directory and its report.html end the text output, as a local run's."""
    from ..errors import PlaybookError as _Error
    from ..events import Fanout
    from .client import answer_hint, describe, heartbeats
    from .mirror import Mirror, create_journal
    prepared, present = following.prepared, following.present
    journal = None
    try:
        journal = create_journal(prepared, following.runs_dir, run_id, max_parallel=request.max_parallel,
                                 no_rollback=request.no_rollback, address=conn.address, namespace=conn.namespace,
                                 task_queue=task_queue)
    except _Error as err:  # following matters more than the local copy
        present.say(f"note: no local journal of run {run_id}: {err}")
    reporter = present.reporter(prepared)
    handle = client.get_workflow_handle(run_id)

    def note(event: dict) -> None:
        say(describe(event))
        if event["event"] == "awaiting_approval":
            say(answer_hint(run_id, event["key"]))
    mirror = Mirror(Fanout(journal, reporter), result=lambda key: handle.query("result", key),
                    mask=prepared.inputs.mask_data, note=note,
                    tolerated=lambda key: bool(getattr(prepared.plan.nodes.get(key), "continue_on_error", False)))
    async def tick() -> None:  # running steps' output, from their heartbeats, while they run
        if mirror.watching():
            for details in await heartbeats(client, run_id):
                mirror.live(details)
    try:
        code = await follow(client, run_id, click.echo, on_event=mirror.feed, on_tick=tick)
    finally:
        reporter.close()
        if journal is not None:
            journal.close()
    if journal is not None:
        _end_text(journal.run_dir, present)
    return code


def _end_text(run_dir: Path, present: Any) -> None:
    """What ends a local run's output: the summary table, the run directory, the report."""
    from ..journal import read_journal
    from ..replay import summary_of
    from ..report.command import write_report
    from ..reporter import summary_table
    if present.output == "text":
        summary = summary_of(read_journal(run_dir).state)
        present.stream.write("\n" + summary_table(summary, brief=present.quiet) + "\n")
        present.stream.write(f"run {run_dir.name}: {run_dir}\n")
    try:
        path = write_report(run_dir)
    except (OSError, PlaybookError) as err:  # the run's exit code matters more than its report
        present.say(f"report: not written ({err}); try `playbook report {run_dir.name}`")
        return
    if present.output == "text":
        present.stream.write(f"report: {path}\n")
    present.stream.flush()


def finish(work: Callable[[], int]) -> None:
    """Run a command that used the SDK and end the process with its exit code (or its user error's) through
    exit_now."""
    try:
        code = work()
    except PlaybookError as err:
        for line in str(err).splitlines():
            click.echo(f"error: {line}", err=True)
        code = err.exit_code
    exit_now(code)


def exit_now(code: int) -> None:
    """End the process with `code` without the interpreter's shutdown: the SDK's native core can abort the
    interpreter at exit after a successful run (temporalio/sdk-python#300), which would replace the run's exit
    code with a crash."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


LIVE_THROTTLE = datetime.timedelta(seconds=1)


@click.command("worker")
@click.option("--task-queue", default=DEFAULT_QUEUE, show_default=True, help="The task queue to serve.")
@connection_options
def worker_command(task_queue: str, **conn) -> None:
    """Run playbook steps for runs held by a Temporal server (many workers may serve one queue)."""
    from temporalio.worker import Worker

    from .activities import Activities
    from .fleet_activities import FleetActivities
    from .fleet_workflow import PlaybookFleet
    from .workflow import PlaybookRun

    async def serve() -> None:
        client = await connection(**conn).connect()
        # Heartbeats carry running steps' output to followers (output.py): sent each second, not each 8 s (80%
        # of the heartbeat timeout, the SDK's default), so output shows while its step runs.
        worker = Worker(client, task_queue=task_queue, workflows=[PlaybookRun, PlaybookFleet],
                        activities=Activities(client).all() + FleetActivities(client).all(),
                        max_concurrent_activities=64, max_heartbeat_throttle_interval=LIVE_THROTTLE)
        click.echo(f"worker: serving task queue {task_queue} in namespace {client.namespace}", err=True)
        await worker.run()
    def work() -> int:
        try:
            asyncio.run(serve())
        except KeyboardInterrupt:
            pass
        return 0
    finish(work)


def run_temporal(file: str, var: tuple, vars_file: tuple, options, run_id: str, *, max_parallel: int,
                 no_rollback: bool, task_queue: str, detach: bool, has_secrets: bool = False,
                 following: Following | None = None, **conn) -> None:
    """`playbook run --engine temporal`: the playbook was checked here; workers prepare it again from the
    same file and inputs. A run with a secret input's value needs the shared key file: the server keeps the
    inputs and every step's arguments and results, encrypted with it. Exits with the run's exit code."""
    import dataclasses

    from ..inputs import parse_vars
    from ..errors import UsageError
    if detach and options.env:
        raise UsageError("--detach cannot keep --emulate's emulator alive; follow the run instead")
    if has_secrets and not connection(**conn).key_file:
        raise UsageError("this run has secret inputs: on Temporal its inputs, arguments and results would be "
                         "kept in clear in the server's history",
                         hint="give --temporal-key-file KEY (or PLAYBOOK_TEMPORAL_KEY_FILE), the same file the "
                              "workers use (docs/temporal.md)")
    cli_vars, cli_raw = parse_vars(var)
    request = RunRequest(file=str(Path(file).resolve()), cli_vars=cli_vars, cli_raw=cli_raw,
                         vars_files=[str(Path(f).resolve()) for f in vars_file],
                         options=dataclasses.asdict(options), max_parallel=max_parallel, no_rollback=no_rollback)
    finish(lambda: run_on_temporal(connection(**conn), request, run_id, task_queue, detach, following))


def _decision_command(name: str, approve: bool) -> click.Command:
    verb = "Approve" if approve else "Reject (the step is skipped, as when a person answers no)"

    @click.command(name, help=f"{verb} the confirmation a Temporal run waits for; who and why are kept in the "
                              "run's history.")
    @click.argument("run_id")
    @click.argument("step", required=False)
    @click.option("--as", "by", help="Who decides [the login name].")
    @click.option("--reason", default="", help="Why (kept in the history).")
    @connection_options
    def command(run_id: str, step: str | None, by: str | None, reason: str, **conn) -> None:
        import getpass
        who = by or getpass.getuser()

        def work() -> int:
            message = asyncio.run(decide(connection(**conn), run_id, step, approve, who, reason))
            click.echo(f"run {run_id}: {message} (as {who})")
            return 0
        finish(work)
    return command


approve_command = _decision_command("approve", True)
reject_command = _decision_command("reject", False)


def runs_temporal(**conn) -> None:
    """`playbook runs --engine temporal`."""
    from .views import runs_text

    def work() -> int:
        click.echo(asyncio.run(runs_text(connection(**conn))))
        return 0
    finish(work)


def show_temporal(run_id: str, ui: str | None, **conn) -> None:
    """`playbook show RUN --engine temporal`."""
    from .views import show_text

    def work() -> int:
        click.echo(asyncio.run(show_text(connection(**conn), run_id, ui or os.environ.get("TEMPORAL_UI"))))
        return 0
    finish(work)


def rollback_temporal(run_id: str, yes: bool, **conn) -> None:
    """`playbook rollback RUN --engine temporal`: undo an ended Temporal run's started steps (undo.py)."""
    from ..interrupts import terminal_ask
    from .undo import rollback

    def work() -> int:
        return asyncio.run(rollback(connection(**conn), run_id, yes=yes, interactive=sys.stdin.isatty(),
                                    ask=terminal_ask, echo=click.echo))
    finish(work)
