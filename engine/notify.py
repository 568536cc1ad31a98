"""Notifications: an optional webhook, called with a small JSON body on failure, rollback and completion.

The URL comes from the `notify_webhook` input or var of the playbook. A notification that cannot be
delivered is reported as a note and never changes how the run goes.
"""
from __future__ import annotations

import json
import threading
import urllib.parse
from functools import singledispatchmethod
from typing import Any, Callable

from .events import (AttemptStarted, DowntimeVerdict, RollbackAbandoned, RollbackBegun, RollbackFailed,
                     RollbackStarted, RollbackSucceeded, RunEvent, RunFinished, RunStarted, RunStopped, StepFailed,
                     StepKept, StepOutput, StepRetry, StepSkipped, StepStarted, StepSucceeded, given, on)
from .masking import url_host

TIMEOUT = 5.0


def notifier_for(url: Any, run_id: str, playbook: str, say: Callable[[str], None]) -> "WebhookNotifier | None":
    """A notifier when `url` is an http(s) URL, else None (a bad URL is reported, not fatal)."""
    if url in (None, ""):
        return None
    try:
        parts = urllib.parse.urlsplit(str(url))
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        say("note: notify_webhook is not a valid URL; no notifications")
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        say(f"note: notify_webhook {parts.scheme or '?'}://… is not an http(s) URL; no notifications")
        return None
    return WebhookNotifier(str(url), run_id, playbook, say)


class WebhookNotifier:
    """An event sink that POSTs `failed`, `rolled_back` / `rollback_failed` and `finished` notifications."""

    def __init__(self, url: str, run_id: str, playbook: str, say: Callable[[str], None],
                 post: Callable[[str, bytes], None] | None = None) -> None:
        self.url = url
        self.run_id = run_id
        self.playbook = playbook
        self.say = say
        self.post = post or _post
        self._failed_sent = False
        self._threads: list[threading.Thread] = []

    @singledispatchmethod
    def emit(self, e: RunEvent) -> None:
        """A kind without a handler sends nothing (the closed set is covered: see the tests)."""

    @on(emit, StepFailed)
    def _step_failed(self, e: StepFailed) -> None:
        if not given(e.continue_on_error) and not self._failed_sent:
            self._failed_sent = True
            self._send({"event": "failed", "step": e.key, "message": given(e.message, "")}, wait=False)

    @on(emit, RunFinished)
    def _run_finished(self, e: RunFinished) -> None:
        rolled_back, rollback_failed = given(e.rolled_back), given(e.rollback_failed)
        if rolled_back or rollback_failed:
            kind = "rollback_failed" if rollback_failed else "rolled_back"
            self._send({"event": kind, "rolled_back": rolled_back or [], "rollback_failed": rollback_failed or []},
                       wait=False)
        self._send({"event": "finished", "status": given(e.reason), "exit_code": given(e.exit_code),
                    "failed": given(e.failed) or []}, wait=True)

    # A webhook is told of a run's failure, rollback and end, nothing else.
    @on(emit, AttemptStarted, RunStarted, StepStarted, StepOutput, StepRetry, StepSucceeded, StepSkipped, StepKept,
        RunStopped, RollbackBegun, RollbackStarted, RollbackSucceeded, RollbackFailed, RollbackAbandoned,
        DowntimeVerdict)
    def _not_notified(self, e: RunEvent) -> None:
        pass

    def _send(self, body: dict[str, Any], *, wait: bool) -> None:
        payload = json.dumps({"run": self.run_id, "playbook": self.playbook, **body}).encode("utf-8")
        # A slow receiver must not hold up the steps; the last one is waited for so it leaves before exit.
        thread = threading.Thread(target=self._deliver, args=(payload, body["event"]), daemon=True)
        thread.start()
        self._threads.append(thread)
        if wait:
            for t in self._threads:
                t.join(TIMEOUT + 1)

    def _deliver(self, payload: bytes, kind: str) -> None:
        try:
            self.post(self.url, payload)
        except (OSError, ValueError) as err:
            host = url_host(self.url)  # user:password@ and the path may hold a token: never print them
            self.say(f"note: the {kind} notification to {host} failed: {getattr(err, 'reason', err)}")


def _post(url: str, payload: bytes) -> None:
    import base64
    import urllib.request  # here, not at the top: it pulls in http.client and ssl, which most runs never use
    headers = {"Content-Type": "application/json", "User-Agent": "playbook"}
    parts = urllib.parse.urlsplit(url)
    if parts.username is not None:  # user:password@ is sent as Basic authentication, as curl does
        auth = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        url = urllib.parse.urlunsplit(parts._replace(netloc=url_host(url)))
    request = urllib.request.Request(url, data=payload, method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:  # noqa: S310 - the user's own URL
        response.read(1024)
