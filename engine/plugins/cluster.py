"""What the `kubectl`, `istioctl` and `helm` plugins share: finding the binary, the connection flags,
masking, the dry-run description (the exact argv) and running through the one subprocess seam.

Each tool plugin only says how its structured forms become arguments (`Invocation`) and what undoes them.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..api import (Completed, Kube, Outcome, PlaybookError, RunOptions, StepContext, StepPlugin, ValidationError,
                   forms_message, kube_client, shell_line, to_arg)

# Flags whose value is a credential: shown as *** in plans, logs and the journal.
_SECRET_FLAG = re.compile(r"^--?(token|password|client-key-data|client-certificate-data|kube-token|"
                          r"registry-password|api-key|bearer-token)$")
_SECRET_KEY = re.compile(r"(password|passwd|token|secret|apikey|api_key|credentials)", re.IGNORECASE)

CONNECTION_SCHEMA = {
    "context": {"type": "string", "description": "Kubernetes context for this step (beats --context)."},
    "kubeconfig": {"type": "string", "description": "Kubeconfig file for this step (beats --kubeconfig)."},
}
ARGS_SCHEMA = {"type": ["array", "string"], "items": {"type": ["string", "number", "boolean"]},
               "description": "Arguments passed through as they are (after the connection flags); "
                              "a string is split like a shell would, without running one."}


@dataclass
class Invocation:
    """The tool's own arguments (without the binary and connection flags) and what goes on stdin."""

    args: list[str]
    stdin: str | None = None
    note: str = ""  # a word for the plan about stdin, e.g. "3 objects: Deployment/app, ..."
    extra: dict[str, Any] = field(default_factory=dict)


def mask_argv(argv: list[str]) -> list[str]:
    """Hide values of credential flags (`--token X`, `--password=X`) and of `--set secretKey=X`."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append("***")
            hide_next = False
            continue
        flag, eq, value = arg.partition("=")
        if _SECRET_FLAG.match(flag):
            if eq:
                out.append(f"{flag}=***")
            else:
                out.append(arg)
                hide_next = True
            continue
        if out and out[-1] in ("--set", "--set-string", "-s") and "=" in arg:
            key, _, _ = arg.partition("=")
            out.append(f"{key}=***" if _SECRET_KEY.search(key) else arg)
            continue
        if arg.startswith(("--set=", "--set-string=")) and _SECRET_KEY.search(value.partition("=")[0]):
            out.append(f"{flag}={value.partition('=')[0]}=***")
            continue
        out.append(arg)
    return out


def search_path(options: RunOptions) -> str:
    """The PATH children see (the emulator puts its stand-ins first)."""
    return options.env.get("PATH") or os.environ.get("PATH", os.defpath)


class ClusterTool(StepPlugin):
    """Base of the CLI-driving cluster plugins."""

    tool: ClassVar[str] = ""
    env_override: ClassVar[str] = ""  # e.g. PLAYBOOK_KUBECTL
    context_flag: ClassVar[str] = "--context"
    kubeconfig_flag: ClassVar[str] = "--kubeconfig"
    forms: ClassVar[tuple[str, ...]] = ("args",)

    # -- what subclasses provide -------------------------------------------------------------------

    def invocation(self, args: dict, options: RunOptions) -> Invocation:
        """The tool arguments for a structured form; `args` passthrough is handled here."""
        raw = args["args"]
        if isinstance(raw, list):
            return Invocation([to_arg(a) for a in raw])
        try:
            return Invocation(shlex.split(str(raw)))
        except ValueError as err:  # "No closing quotation": the user's string, not a plugin bug
            raise ValidationError(f"{self.name}: with.args: {err} in {str(raw)!r}") from None

    def check(self, args: dict) -> list[str]:
        raw = args.get("args")
        if isinstance(raw, str) and "{" not in raw:
            try:
                shlex.split(raw)
            except ValueError as err:
                return [f"with.args: {err} in {raw!r} (it is split like a shell would)"]
        return []

    def before(self, args: dict, ctx: StepContext) -> dict[str, Any]:
        """Record what is needed to undo the step, before it changes anything; returns outputs (an `undo`
        entry holds the arguments of the tool's own form that undoes the step)."""
        return {}

    def plan_undo(self, args: dict, options: RunOptions) -> str | None:
        """What the undo of this form will be, said before anything ran (plans); None if it has none."""
        return None

    # -- shared ------------------------------------------------------------------------------------

    def form(self, args: dict) -> str:
        given = [f for f in self.forms if f in args]
        if len(given) != 1:
            raise_form_error(self.name, self.forms, given)
        return given[0]

    def program(self, options: RunOptions) -> str:
        """The binary as it goes into argv: the override if set, else the bare name (found on PATH)."""
        override = options.env.get(self.env_override) or os.environ.get(self.env_override)
        return override or self.tool

    def locate(self, options: RunOptions) -> str | None:
        """Where the binary is, or None."""
        program = self.program(options)
        if os.sep in program:
            return program if os.access(program, os.X_OK) and os.path.isfile(program) else None
        return shutil.which(program, path=search_path(options))

    def connection(self, args: dict, options: RunOptions) -> list[str]:
        flags = []
        context = args.get("context") or options.context
        kubeconfig = args.get("kubeconfig") or options.kubeconfig
        if context:
            flags += [self.context_flag, str(context)]
        if kubeconfig:
            flags += [self.kubeconfig_flag, str(kubeconfig)]
        return flags

    def argv(self, args: dict, options: RunOptions) -> tuple[list[str], Invocation]:
        inv = self.invocation(args, options)
        return [self.program(options), *self.connection(args, options), *inv.args], inv

    def describe(self, args: dict, options: RunOptions) -> str:
        argv, inv = self.argv(args, options)
        line = shell_line(mask_argv(argv))
        if inv.stdin is not None:
            line += f"  <<< {inv.note or f'({len(inv.stdin)} bytes on stdin)'}"
        return line

    def preflight(self, args: dict, options: RunOptions) -> list[str]:
        problems = []
        # A plan or a validation runs nothing, so it does not need the binary.
        if not options.dry_run and self.locate(options) is None:
            where = self.env_override
            # The emulator stands in for the cluster, istioctl and helm, not for kubectl.
            emulate = "" if "PLAYBOOK_EMULATOR_URL" in options.env else ", or run with --emulate"
            problems.append(f"'{self.program(options)}' not found on PATH (install {self.tool}, put it on PATH"
                            f"{' or' if not emulate else ','} set {where}=/path/to/{self.tool}{emulate})")
        return problems

    def kube(self, args: dict, options: RunOptions) -> Kube:
        """A client for the same cluster the tool talks to."""
        return kube_client(options, args.get("kubeconfig"), args.get("context"))

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        form = self.form(args)
        try:
            before = self.before(args, ctx) if form != "args" else {}
        except (PlaybookError, RuntimeError, OSError, ValueError) as err:
            # Without a known undo the step must not change anything; anything else is a bug (traceback kept).
            return Outcome(ok=False, message=f"cannot record the state to undo before changing it: {err}")
        outcome = self.run_invocation(args, self.invocation(args, ctx.options), ctx, form=form)
        outcome.outputs = {**before, **outcome.outputs}
        return outcome

    def run_invocation(self, args: dict, inv: Invocation, ctx: StepContext, *, form: str) -> Outcome:
        """Run the tool once with the step's connection flags; `form` is recorded in the outputs."""
        argv = [self.program(ctx.options), *self.connection(args, ctx.options), *inv.args]
        done = ctx.run(argv, stdin=inv.stdin)
        outcome = Outcome.from_process(done)
        outcome.argv = [ctx.mask(a) for a in mask_argv(list(done.argv))]
        if done.not_found:
            outcome.message = (f"'{argv[0]}' not found (set {self.env_override} or put {self.tool} on PATH)")
        outcome.outputs["form"] = form
        return outcome

    def describe_undo(self, args: dict, done: Outcome | None, options: RunOptions) -> str | None:
        if done is None:
            return self.plan_undo(args, options)
        undo = self.undo_args(args, done)
        return None if undo is None else self.describe(undo, options)

    def undo(self, args: dict, done: Outcome, ctx: StepContext) -> Outcome:
        undo = self.undo_args(args, done)
        if undo is None:
            return Outcome(ok=True, message="nothing to undo")
        return self.run(undo, ctx)

    def undo_args(self, args: dict, done: Outcome) -> dict | None:
        """The undoing form's arguments, as `before` saved them (data: never rendered), on the same cluster."""
        undo = done.outputs.get("undo")
        if not undo:
            return None
        keep = {k: args[k] for k in ("context", "kubeconfig") if k in args}
        return {**undo, **keep}


def exactly_one(forms: tuple[str, ...]) -> list[dict]:
    """Schema alternatives saying that exactly one of the forms is given (so `validate` checks it)."""
    return [{"required": [f]} for f in forms]


def raise_form_error(plugin: str, forms: tuple[str, ...], given: list[str]) -> None:
    raise ValidationError(f"{plugin}: {forms_message(forms, given)}")


def tool_query(plugin: ClusterTool, args: dict, ctx: StepContext, tool_args: list[str],
               stdin: str | None = None) -> Completed:
    """Run the tool read-only with the step's connection flags, quietly, within the step's budget."""
    return ctx.query([plugin.program(ctx.options), *plugin.connection(args, ctx.options), *tool_args], stdin=stdin)
