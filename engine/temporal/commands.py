"""`playbook worker` and the `--engine temporal` side of `playbook run`: click glue over client.py."""
from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from .client import DEFAULT_QUEUE, Connection, connection_from_env, follow, submit
from .host import RunRequest
from .options import connection_options


def connection(temporal_address, namespace, temporal_tls, temporal_tls_cert, temporal_tls_key, temporal_tls_ca,
               temporal_api_key) -> Connection:
    return connection_from_env(address=temporal_address, namespace=namespace, tls=temporal_tls,
                               tls_cert=temporal_tls_cert, tls_key=temporal_tls_key, tls_ca=temporal_tls_ca,
                               api_key=temporal_api_key)


def run_on_temporal(conn: Connection, request: RunRequest, run_id: str, task_queue: str, detach: bool) -> int:
    """Submit the run; follow it to its end unless `detach`. Returns the exit code."""
    async def go() -> int:
        client = await submit(conn, request, run_id, task_queue)
        click.echo(f"run {run_id} submitted to Temporal at {conn.address} (namespace {conn.namespace}, "
                   f"task queue {task_queue})")
        if detach:
            click.echo(run_id)
            return 0
        return await follow(client, run_id, click.echo)
    return asyncio.run(go())


def exit_now(code: int) -> None:
    """End the process with `code` without the interpreter's shutdown: the SDK's native core can abort the
    interpreter at exit after a successful run (temporalio/sdk-python#300), which would replace the run's exit
    code with a crash."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@click.command("worker")
@click.option("--task-queue", default=DEFAULT_QUEUE, show_default=True, help="The task queue to serve.")
@connection_options
def worker_command(task_queue: str, **conn) -> None:
    """Run playbook steps for runs held by a Temporal server (many workers may serve one queue)."""
    from temporalio.worker import Worker

    from .activities import Activities
    from .workflow import PlaybookRun

    async def serve() -> None:
        client = await connection(**conn).connect()
        worker = Worker(client, task_queue=task_queue, workflows=[PlaybookRun], activities=Activities().all(),
                        max_concurrent_activities=64)
        click.echo(f"worker: serving task queue {task_queue} in namespace {client.namespace}", err=True)
        await worker.run()
    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    exit_now(0)


def run_temporal(file: str, var: tuple, vars_file: tuple, options, run_id: str, *, max_parallel: int,
                 no_rollback: bool, task_queue: str, detach: bool, **conn) -> None:
    """`playbook run --engine temporal`: the playbook was checked here; workers prepare it again from the
    same file and inputs. Exits with the run's exit code."""
    import dataclasses

    from ..cli import _parse_vars
    from ..errors import UsageError
    if detach and options.env:
        raise UsageError("--detach cannot keep --emulate's emulator alive; follow the run instead")
    cli_vars, cli_raw = _parse_vars(var)
    request = RunRequest(file=str(Path(file).resolve()), cli_vars=cli_vars, cli_raw=cli_raw,
                         vars_files=[str(Path(f).resolve()) for f in vars_file],
                         options=dataclasses.asdict(options), max_parallel=max_parallel, no_rollback=no_rollback)
    code = run_on_temporal(connection(**conn), request, run_id, task_queue, detach)
    exit_now(code)
