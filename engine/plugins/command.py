"""`command`: run a program with arguments, never through a shell."""
from __future__ import annotations

import shutil

from ..api import Outcome, RunOptions, StepContext, StepPlugin, shell_line, to_arg


class CommandPlugin(StepPlugin):
    name = "command"
    summary = "Run a program as an argv list (no shell): {args: [prog, arg...], env, cwd, stdin}."
    schema = {
        "type": "object",
        "required": ["args"],
        "additionalProperties": False,
        "properties": {
            "args": {"type": ["array", "string"], "minItems": 1,
                     "description": "Program and arguments; a string is one template yielding a list."},
            "env": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
                    "description": "Extra environment variables."},
            "cwd": {"type": "string", "description": "Working directory."},
            "stdin": {"type": "string", "description": "Text sent to the program's standard input."},
        },
    }
    example = "with: {args: [kubectl, get, pods, -n, \"{{ namespace }}\"]}"

    def argv(self, args: dict) -> list[str]:
        raw = args["args"]
        return [to_arg(a) for a in (raw if isinstance(raw, list) else [raw])]

    def describe(self, args: dict, options: RunOptions) -> str:
        line = shell_line(self.argv(args))
        if args.get("stdin"):
            line += f"  <<< ({len(str(args['stdin']))} bytes on stdin)"
        return line

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        return Outcome.from_process(ctx.run(self.argv(args), stdin=args.get("stdin"), env=args.get("env"),
                                            cwd=args.get("cwd")))

    def preflight(self, args: dict, options: RunOptions) -> list[str]:
        raw = args.get("args")
        prog = raw[0] if isinstance(raw, list) and raw else None
        if isinstance(prog, str) and "{" not in prog and "/" not in prog and shutil.which(prog) is None:
            return [f"program '{prog}' is not on PATH"]
        return []
