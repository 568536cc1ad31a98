"""`pause` and `approve`: a manual gate. Asks on the terminal (y/N), is answered by `--yes`, or decides at
a timeout; a bare `pause: {duration}` is a soak timer. A "no" fails the step, so the run rolls back.

(To skip rather than fail on "no", put `confirm:` on the step or group instead.)
"""
from __future__ import annotations

import select
import sys
import threading
import time
from typing import IO

from ..api import Outcome, RunOptions, StepContext, StepPlugin, format_duration, parse_duration
from .wait import DURATION

YES = ("y", "yes")


class PausePlugin(StepPlugin):
    name = "pause"
    summary = ("Manual gate / soak: {prompt: TEXT, timeout: 10m, on_timeout: reject|approve} asks y/N on the "
               "terminal (--yes answers); {duration: 60s} just waits.")
    schema = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": ["prompt"]}, {"required": ["duration"]}],
        "properties": {
            "prompt": {"type": "string", "description": "The question, e.g. \"Migrate namespace X?\"."},
            "duration": {**DURATION, "description": "Without a prompt: wait this long, then go on."},
            "timeout": {**DURATION, "description": "How long to wait for an answer."},
            "on_timeout": {"type": "string", "enum": ["reject", "approve"], "default": "reject",
                           "description": "The answer when nobody answers in time (also without a terminal)."},
        },
    }
    example = "with: {prompt: \"Migrate namespace {{ item }}? \", timeout: 30m}"
    default_prompt: str | None = None

    def __init__(self, stdin: IO[str] | None = None) -> None:
        self._stdin = stdin
        self._asking = threading.Lock()  # one question on the terminal at a time

    def _prompt(self, args: dict) -> str | None:
        return args.get("prompt") or self.default_prompt

    def describe(self, args: dict, options: RunOptions) -> str:
        prompt = self._prompt(args)
        if prompt is None:
            return f"pause {format_duration(parse_duration(args['duration']))}"
        limit = ""
        if args.get("timeout"):
            limit = f"; after {format_duration(parse_duration(args['timeout']))} {args.get('on_timeout', 'reject')}"
        return f"ask: {prompt.strip()} [y/N]" + (" (answered yes by --yes)" if options.assume_yes else "") + limit

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        prompt = self._prompt(args)
        if prompt is None:
            seconds = parse_duration(args["duration"])
            ctx.emit("stdout", f"pausing {format_duration(seconds)}")
            if ctx.cancel.wait(seconds):
                return Outcome(ok=False, message="cancelled", cancelled=True)
            return Outcome(ok=True, message=f"paused {format_duration(seconds)}", outputs={"approved": True})
        prompt = prompt.strip()
        if ctx.options.assume_yes:
            return _answer(True, f"{prompt} yes (--yes)")
        timeout = parse_duration(args["timeout"]) if args.get("timeout") else None
        left = ctx.remaining()
        if left is not None:
            timeout = left if timeout is None else min(timeout, left)
        on_timeout = args.get("on_timeout", "reject") == "approve"
        if ctx.options.ask is not None and self._stdin is None:  # no terminal: a person answers through the engine
            within = f" (within {format_duration(timeout)})" if timeout else ""
            ctx.emit("stdout", f"{prompt} waiting for approval{within}")
            answer = ctx.options.ask(prompt, timeout, ctx.cancel)
            if answer is not None:
                return _answer(answer[0], f"{prompt} {'approved' if answer[0] else 'rejected'} {answer[1]}".rstrip())
            if ctx.cancel.is_set():
                return Outcome(ok=False, message="cancelled", cancelled=True)
            return _answer(on_timeout, f"{prompt} no answer in {format_duration(timeout or 0)}: "
                                       f"{'approved' if on_timeout else 'rejected'} (on_timeout)")
        stream = self._stdin if self._stdin is not None else sys.stdin
        interactive = self._stdin is not None or (ctx.options.interactive and stream.isatty())
        if not interactive:
            if timeout is not None and on_timeout:
                ctx.emit("stdout", f"{prompt} — no terminal; approving after {format_duration(timeout)}")
                if ctx.cancel.wait(timeout):
                    return Outcome(ok=False, message="cancelled", cancelled=True)
                return _answer(True, f"{prompt} approved after {format_duration(timeout)} (on_timeout: approve)")
            return Outcome(ok=False, message=f"needs approval: {prompt} — no terminal to ask on; "
                                             f"re-run with --yes or from a terminal", outputs={"approved": False})
        with self._asking:
            ctx.emit("stdout", f"{prompt} [y/N]" + (f" (within {format_duration(timeout)})" if timeout else ""))
            line = _read_line(stream, ctx.cancel, None if timeout is None else time.time() + timeout)
        if line is None:
            if ctx.cancel.is_set():
                return Outcome(ok=False, message="cancelled", cancelled=True)
            return _answer(on_timeout, f"{prompt} no answer in {format_duration(timeout or 0)}: "
                                       f"{'approved' if on_timeout else 'rejected'} (on_timeout)")
        approved = line.strip().lower() in YES
        return _answer(approved, f"{prompt} {'yes' if approved else 'no: declined by the operator'}")


class ApprovePlugin(PausePlugin):
    """The same gate under the name that reads best for a question."""

    name = "approve"
    summary = "Ask for approval: {prompt: TEXT, timeout, on_timeout: reject|approve}; --yes answers yes."
    default_prompt = "Continue?"
    schema = {k: v for k, v in PausePlugin.schema.items() if k != "oneOf"}  # the prompt has a default
    example = "with: {prompt: \"Switch the default tag to {{ rev }}?\"}"


def _answer(approved: bool, message: str) -> Outcome:
    return Outcome(ok=approved, message=message, outputs={"approved": approved})


def _read_line(stream: IO[str], cancel: threading.Event, deadline: float | None) -> str | None:
    """One line from the stream, or None at the deadline or on cancel (checked every 0.1 s)."""
    while not cancel.is_set():
        wait = 0.1 if deadline is None else min(0.1, deadline - time.time())
        if wait <= 0:
            return None
        ready, _, _ = select.select([stream], [], [], wait)
        if ready:
            line = stream.readline()
            return line if line else "n"  # end of input answers no
    return None

