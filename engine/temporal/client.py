"""Submitting a run to a Temporal server and following it: the connection options (address, namespace,
TLS, API key) passed through to the SDK, the run's progress printed as it happens, its exit code returned."""
from __future__ import annotations

import asyncio
import dataclasses
import os
from typing import Awaitable, Callable

from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import RPCError
from temporalio.service import TLSConfig

from ..errors import EXIT_FAILED, PlaybookError
from .host import RunRequest
from .workflow import WORKFLOW_NAME

DEFAULT_ADDRESS = "127.0.0.1:7233"
DEFAULT_QUEUE = "playbook"
POLL_EVERY = 0.5


@dataclasses.dataclass
class Connection:
    """Where the Temporal server is and how to reach it (flags or TEMPORAL_* environment variables)."""

    address: str = DEFAULT_ADDRESS
    namespace: str = "default"
    tls: bool = False
    tls_cert: str | None = None  # client certificate and key for mTLS (self-hosted)
    tls_key: str | None = None
    tls_ca: str | None = None
    api_key: str | None = None  # Temporal Cloud API key (implies TLS)
    key_file: str | None = None  # the key the client and workers share to encrypt payloads (codec.py)

    def data_converter(self) -> DataConverter:
        """The SDK's JSON converter; with a key file, every payload encrypted and failures' messages and stack
        traces moved into (encrypted) payloads, so nothing of a run is in clear on the server."""
        if not self.key_file:
            return DataConverter.default
        from .codec import EncryptionCodec, read_key
        return dataclasses.replace(DataConverter.default, payload_codec=EncryptionCodec(read_key(self.key_file)),
                                   failure_converter_class=DefaultFailureConverterWithEncodedAttributes)

    async def connect(self) -> Client:
        tls: bool | TLSConfig = self.tls or bool(self.api_key)
        if self.tls_cert or self.tls_key or self.tls_ca:
            def read(path: str | None) -> bytes | None:
                return open(path, "rb").read() if path else None
            tls = TLSConfig(client_cert=read(self.tls_cert), client_private_key=read(self.tls_key),
                            server_root_ca_cert=read(self.tls_ca))
        converter = self.data_converter()
        try:
            return await Client.connect(self.address, namespace=self.namespace, tls=tls, api_key=self.api_key,
                                        data_converter=converter)
        except RuntimeError as err:  # the SDK's core reports connection faults so
            raise PlaybookError(f"cannot reach the Temporal server at {self.address}: {err}",
                                hint="start one (`temporal server start-dev`) or give --temporal-address") from None


def connection_from_env(**given) -> Connection:
    """A Connection from flags, falling back to TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY...,
    PLAYBOOK_TEMPORAL_KEY_FILE."""
    env = os.environ
    return Connection(address=given.get("address") or env.get("TEMPORAL_ADDRESS") or DEFAULT_ADDRESS,
                      namespace=given.get("namespace") or env.get("TEMPORAL_NAMESPACE") or "default",
                      tls=bool(given.get("tls")), tls_cert=given.get("tls_cert") or env.get("TEMPORAL_TLS_CERT"),
                      tls_key=given.get("tls_key") or env.get("TEMPORAL_TLS_KEY"),
                      tls_ca=given.get("tls_ca") or env.get("TEMPORAL_TLS_CA"),
                      api_key=given.get("api_key") or env.get("TEMPORAL_API_KEY"),
                      key_file=given.get("key_file") or env.get("PLAYBOOK_TEMPORAL_KEY_FILE"))


def describe(event: dict) -> str:
    """One progress line for a workflow event."""
    kind, key = event["event"], event.get("key", "")
    if kind == "run_started":
        return f"run {event['playbook']}: {event['steps']} steps, at most {event['max_parallel']} at once"
    if kind == "step_started":
        return f"▶ {key} ({event.get('uses')})"
    if kind == "step_succeeded":
        return f"✓ {key}"
    if kind == "step_failed":
        return f"✗ {key}: {event.get('message', '')}"
    if kind == "step_skipped":
        return f"- {key} skipped ({event.get('reason', '')})"
    if kind == "run_stopped":
        return f"■ stopped at {key}: {event.get('reason', '')}"
    if kind == "rollback_begun":
        return f"rolling back {event['steps']} started steps in reverse order"
    if kind == "rollback_succeeded":
        return f"↶ {key} rolled back"
    if kind == "rollback_failed":
        return f"✗ {key} rollback failed: {event.get('message', '')}"
    if kind == "awaiting_approval":
        return f"? {key} waits for approval: {event.get('prompt', '')}"
    if kind in ("approved", "rejected"):
        why = f": {event['reason']}" if event.get("reason") else ""
        return f"{'✓' if kind == 'approved' else '✗'} {key} {kind} by {event.get('by')}{why}"
    if kind == "run_finished":
        return f"run {event['reason']} (exit {event['exit_code']})"
    return f"{kind} {key}".strip()


async def submit(conn: Connection, request: RunRequest, run_id: str, task_queue: str) -> Client:
    client = await conn.connect()
    await client.start_workflow(WORKFLOW_NAME, dataclasses.asdict(request), id=run_id, task_queue=task_queue)
    return client


def answer_hint(run_id: str, key: str) -> str:
    """How to answer a step that waits for approval."""
    return f"  answer with: playbook approve {run_id} {key} --as NAME --reason TEXT (or playbook reject ...)"


async def follow(client: Client, run_id: str, echo: Callable[[str], None],
                 on_event: Callable[[dict], Awaitable[None]] | None = None,
                 on_tick: Callable[[], Awaitable[None]] | None = None) -> int:
    """Print the run's events as they happen (or hand each to `on_event`, then call `on_tick` after each
    look); its exit code when it ends."""
    handle = client.get_workflow_handle(run_id)
    result_task = asyncio.ensure_future(handle.result())
    seen = 0
    while True:
        finished = result_task.done()
        try:
            events = await handle.query("progress", seen)
        except Exception:  # noqa: BLE001 — no worker has picked the run up yet; the result still comes
            events = []
        for event in events:
            if on_event is not None:
                await on_event(event)
                continue
            echo(describe(event))
            if event["event"] == "awaiting_approval":
                echo(answer_hint(run_id, event["key"]))
        seen += len(events)
        if on_tick is not None and not finished:
            await on_tick()
        if finished:
            break
        await asyncio.wait({result_task}, timeout=POLL_EVERY)
    try:
        return int(result_task.result()["exit_code"])
    except WorkflowFailureError as err:
        echo(f"run failed in Temporal: {err.cause or err}")
        return EXIT_FAILED


LIVE_ACTIVITIES = ("playbook.step", "playbook.undo")


async def heartbeats(client: Client, run_id: str) -> list:
    """The details of the last heartbeat of each running step and compensation of the run (the server keeps
    them on the pending activity, outside the history), decoded as the SDK decodes payloads (codec included)."""
    try:
        described = await client.get_workflow_handle(run_id).describe()
    except RPCError:  # a moment without an answer costs only a late line: the step's result brings it
        return []
    found = []
    for pending in described.raw_description.pending_activities:
        if pending.activity_type.name in LIVE_ACTIVITIES and pending.heartbeat_details.payloads:
            values = await client.data_converter.decode(pending.heartbeat_details.payloads)
            found.extend(v for v in values[:1] if isinstance(v, dict))
    return found


async def decide(conn: Connection, run_id: str, step: str | None, approve: bool, by: str, reason: str) -> str:
    """Approve or reject the confirmation a run waits for; recorded in the run's history with who and why."""
    client = await conn.connect()
    handle = client.get_workflow_handle(run_id)
    try:
        return await handle.execute_update("decide", {"approve": approve, "step": step, "by": by, "reason": reason})
    except WorkflowUpdateFailedError as err:
        raise PlaybookError(f"run {run_id}: {err.cause or err}") from None
    except RPCError as err:
        raise PlaybookError(f"run {run_id}: {err}") from None
