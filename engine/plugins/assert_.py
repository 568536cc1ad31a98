"""`assert`: every expression must hold, else the step fails with the message."""
from __future__ import annotations

from ..api import Outcome, RunOptions, StepContext, StepPlugin


class AssertPlugin(StepPlugin):
    name = "assert"
    summary = "Check expressions: {that: EXPR or [EXPR...], msg: TEXT}; fails naming the first false one."
    schema = {
        "type": "object",
        "required": ["that"],
        "additionalProperties": False,
        "properties": {
            "that": {"oneOf": [{"type": ["string", "boolean"]},
                               {"type": "array", "minItems": 1, "items": {"type": ["string", "boolean"]}}]},
            "msg": {"type": "string", "description": "Message when an expression is false."},
        },
    }
    example = "with: {that: [\"steps.pods.json['items'] | length > 0\"], msg: no pods}"

    # Expressions are kept unrendered by the runner so that they are evaluated here, as expressions.
    raw_args = ("that",)

    def describe(self, args: dict, options: RunOptions) -> str:
        that = args["that"] if isinstance(args["that"], list) else [args["that"]]
        return "assert " + " and ".join(f"({t})" for t in that)

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        that = args["that"] if isinstance(args["that"], list) else [args["that"]]
        for expr in that:
            value = ctx.evaluate(expr)
            if not value:
                msg = args.get("msg") or "assertion failed"
                return Outcome(ok=False, message=f"{msg} (false: {expr})", outputs={"failed": expr})
        return Outcome(ok=True, message=f"{len(that)} assertion{'s' if len(that) > 1 else ''} held")
