"""`echo`: write a message to the log (and to `steps.<id>.stdout`)."""
from __future__ import annotations

from ..api import Outcome, RunOptions, StepContext, StepPlugin


class EchoPlugin(StepPlugin):
    name = "echo"
    summary = "Log a message: {msg: TEXT}."
    schema = {"type": "object", "required": ["msg"], "additionalProperties": False,
              "properties": {"msg": {}}}
    example = "with: {msg: \"upgrading to {{ rev }}\"}"
    shows_output = True

    def describe(self, args: dict, options: RunOptions) -> str:
        return f"echo {args['msg']}"

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        text = str(args["msg"])
        for line in text.splitlines() or [""]:
            ctx.emit("stdout", line)
        return Outcome(ok=True, stdout=text + "\n")
