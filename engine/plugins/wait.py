"""`wait`: pause for a duration (cluster conditions are added by the Kubernetes plugins)."""
from __future__ import annotations

import time

from ..durations import format_duration, parse_duration
from .base import Outcome, RunOptions, StepContext, StepPlugin

DURATION = {"oneOf": [{"type": "number", "minimum": 0},
                      {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$|^\s*\d+(\.\d+)?\s*$"}]}


class WaitPlugin(StepPlugin):
    name = "wait"
    summary = "Wait: {duration: 30s}."
    schema = {"type": "object", "required": ["duration"], "additionalProperties": False,
              "properties": {"duration": DURATION}}
    example = "with: {duration: 60s}"

    def describe(self, args: dict, options: RunOptions) -> str:
        return f"wait {format_duration(parse_duration(args['duration']))}"

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        seconds = parse_duration(args["duration"])
        if ctx.cancel.wait(seconds):
            return Outcome(ok=False, message="cancelled", cancelled=True)
        return Outcome(ok=True, message=f"waited {format_duration(seconds)}")
