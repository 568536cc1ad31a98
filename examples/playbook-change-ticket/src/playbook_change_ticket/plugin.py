"""`change_ticket`: open a change ticket when the step runs; the undo cancels exactly the ticket it opened."""
from __future__ import annotations

from engine.api import Outcome, RunOptions, StepContext, StepPlugin

from .client import TicketError, call, token_from


class ChangeTicketPlugin(StepPlugin):
    name = "change_ticket"
    summary = "Open a change ticket (a REST API); rolling the run back cancels it."
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["api", "summary"],
        "properties": {
            "api": {"type": "string", "description": "Base URL of the change-management API."},
            "summary": {"type": "string", "description": "What the change is, for the ticket's title."},
            "token_env": {"type": "string", "description": "Environment variable holding the API token."},
        },
    }
    example = 'with: {api: "https://changes.example.com/api", summary: "Istio 1.20 canary", token_env: CHANGES_TOKEN}'

    def describe(self, args: dict, options: RunOptions) -> str:
        return f"open a change ticket at {args['api']}: {args['summary']}"

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        token = token_from(ctx.child_env(), args.get("token_env"))
        try:
            answer = call(args["api"], "POST", "/changes", body={"summary": args["summary"], "state": "open"},
                          token=token, timeout=ctx.remaining() or 30.0)
        except TicketError as err:
            return Outcome(ok=False, message=str(err))
        ticket = (answer or {}).get("id") if isinstance(answer, dict) else None
        if not ticket:
            return Outcome(ok=False, message="the ticket API answered without a ticket id")
        ctx.emit("stdout", f"opened change ticket {ticket}")
        # `ticket` is kept in the journal: the undo hook gets it back, even in a later `playbook rollback`.
        return Outcome(ok=True, message=f"opened {ticket}", outputs={"ticket": ticket})

    def describe_undo(self, args: dict, done: Outcome | None, options: RunOptions) -> str | None:
        if done is None:
            return "cancel the change ticket it opens"
        ticket = done.outputs.get("ticket")
        return f"cancel change ticket {ticket} at {args['api']}" if ticket else None

    def undo(self, args: dict, done: Outcome, ctx: StepContext) -> Outcome:
        ticket = done.outputs["ticket"]
        token = token_from(ctx.child_env(), args.get("token_env"))
        try:
            call(args["api"], "POST", f"/changes/{ticket}/cancel", body={"reason": "playbook rolled back"},
                 token=token, timeout=ctx.remaining() or 30.0)
        except TicketError as err:
            return Outcome(ok=False, message=str(err))
        return Outcome(ok=True, message=f"cancelled {ticket}")
