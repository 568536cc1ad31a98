"""`shell`: run a script through /bin/sh. The explicit opt-in to a shell; templated values are quoted by you."""
from __future__ import annotations

from ..api import Outcome, RunOptions, StepContext, StepPlugin


class ShellPlugin(StepPlugin):
    name = "shell"
    summary = "Run a script with a shell (explicit opt-in): {script: TEXT, shell: /bin/sh, env, cwd}."
    schema = {
        "type": "object",
        "required": ["script"],
        "additionalProperties": False,
        "properties": {
            "script": {"type": "string", "minLength": 1},
            "shell": {"type": "string", "default": "/bin/sh"},
            "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
            "cwd": {"type": "string"},
        },
    }
    example = "with: {script: \"kubectl get pods -A | grep -c Running\"}"

    def describe(self, args: dict, options: RunOptions) -> str:
        script = str(args["script"]).rstrip("\n")
        body = script if "\n" not in script else "\n    " + script.replace("\n", "\n    ")
        return f"{args.get('shell', '/bin/sh')} -c: {body}"

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        # The script goes as one argv element: the shell, not Python, interprets it.
        argv = [args.get("shell", "/bin/sh"), "-c", str(args["script"])]
        return Outcome.from_process(ctx.run(argv, env=args.get("env"), cwd=args.get("cwd")))
