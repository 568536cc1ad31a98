"""`wait`: for a duration, or for a cluster condition (watched through `engine.kube`, not polled), or for a
command to succeed. Progress lines go to the log when the state changes; a timeout names what is not ready.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from ..api import DURATION_PATTERN as PATTERN
from ..api import (Outcome, RunOptions, StepContext, StepPlugin, ValidationError, format_duration, forms_message,
                   parse_duration, shell_line, to_arg)

DURATION = {"type": ["number", "string"], "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": PATTERN}]}
CONDITIONS = ("duration", "rollout", "pods", "exists", "gone", "jsonpath", "command")
DEFAULT_TIMEOUT = 300.0
ROLLOUT_KINDS = {"deployment": "Deployment", "deploy": "Deployment", "deployments": "Deployment",
                 "daemonset": "DaemonSet", "ds": "DaemonSet", "daemonsets": "DaemonSet",
                 "statefulset": "StatefulSet", "sts": "StatefulSet", "statefulsets": "StatefulSet"}


# -- judging objects (pure functions: tested without a cluster) --------------------------------------

def rollout_state(obj: dict) -> tuple[bool, str]:
    """(complete, what is missing) for a Deployment/DaemonSet/StatefulSet, as `kubectl rollout status` says it."""
    kind = obj.get("kind") or "Deployment"
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    if int(meta.get("generation") or 0) > int(st.get("observedGeneration") or 0):
        return False, "waiting for the new spec to be observed"
    if kind == "DaemonSet":
        want = int(st.get("desiredNumberScheduled") or 0)
        updated, available = int(st.get("updatedNumberScheduled") or 0), int(st.get("numberAvailable") or 0)
        if updated < want:
            return False, f"{updated} of {want} updated pods scheduled"
        if available < want:
            return False, f"{available} of {want} updated pods available"
        return True, f"{want} pods available"
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    updated = int(st.get("updatedReplicas") or 0)
    if kind == "StatefulSet":
        ready = int(st.get("readyReplicas") or 0)
        if updated < want:
            return False, f"{updated} of {want} pods updated"
        if ready < want:
            return False, f"{ready} of {want} pods ready"
        return True, f"{want} pods ready"
    for cond in st.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return False, "exceeded its progress deadline"
    total = int(st.get("replicas") or 0)
    available = int(st.get("availableReplicas") or 0)
    if updated < want:
        return False, f"{updated} of {want} updated replicas"
    if total > updated:
        return False, f"{total - updated} old replica{'s' if total - updated != 1 else ''} pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas available"
    return True, f"{available} of {want} replicas available"


def pod_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _name(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("name", "?")


def _listing(names: list[str], limit: int = 5) -> str:
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def judge_rollouts(kind: str, name: str | None) -> Callable[[dict[str, dict]], tuple[bool, str]]:
    def judge(objects: dict[str, dict]) -> tuple[bool, str]:
        items = sorted(objects.values(), key=_name)
        if name is not None and not items:
            return False, f"{kind.lower()}/{name} not found"
        waiting = []
        for obj in items:
            obj.setdefault("kind", kind)
            done, text = rollout_state(obj)
            if not done:
                waiting.append(f"{kind.lower()}/{_name(obj)} ({text})")
        if name is not None:
            return (not waiting), (waiting[0] if waiting else f"{kind.lower()}/{name} rolled out "
                                   f"({rollout_state(items[0])[1]})")
        if not waiting:
            return True, f"all {len(items)} {kind.lower()}s rolled out"
        return False, f"{len(items) - len(waiting)} of {len(items)} {kind.lower()}s rolled out; waiting for " \
                      f"{_listing(waiting)}"
    return judge


def judge_pods(minimum: int) -> Callable[[dict[str, dict]], tuple[bool, str]]:
    def judge(objects: dict[str, dict]) -> tuple[bool, str]:
        # Pods being deleted or finished do not count: they are on their way out.
        live = [p for p in objects.values() if not (p.get("metadata") or {}).get("deletionTimestamp")
                and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        not_ready = sorted(_name(p) for p in live if not pod_ready(p))
        ready = len(live) - len(not_ready)
        if len(live) < minimum:
            return False, f"{ready} pod{'s' if ready != 1 else ''} ready, {len(live)} found, want at least {minimum}" \
                          + (f"; not ready: {_listing(not_ready)}" if not_ready else "")
        if not_ready:
            return False, f"{ready} of {len(live)} pods ready; not ready: {_listing(not_ready)}"
        return True, f"{ready} of {len(live)} pods ready"
    return judge


def judge_presence(ref: str, want: bool) -> Callable[[dict[str, dict]], tuple[bool, str]]:
    def judge(objects: dict[str, dict]) -> tuple[bool, str]:
        live = [o for o in objects.values() if not (o.get("metadata") or {}).get("deletionTimestamp")]
        present = bool(live)
        if present == want:
            return True, f"{ref} {'exists' if want else 'is gone'}"
        return False, f"{ref} {'does not exist yet' if want else 'still exists'}"
    return judge


def judge_jsonpath(ref: str, expr: str, equals: Any) -> Callable[[dict[str, dict]], tuple[bool, str]]:
    from ..api import jsonpath, jsonpath_text

    def judge(objects: dict[str, dict]) -> tuple[bool, str]:
        if not objects:
            return False, f"{ref} not found"
        obj = next(iter(objects.values()))
        value = jsonpath_text(obj, expr)
        if equals is None:
            ok = bool(jsonpath(obj, expr)) and value not in ("", "false")
            return ok, f"{ref} {expr} = {value!r}" + ("" if ok else " (want a value)")
        want = to_arg(equals)
        return value == want, f"{ref} {expr} = {value!r}" + ("" if value == want else f" (want {want!r})")
    return judge


# -- the plugin --------------------------------------------------------------------------------------

class WaitPlugin(StepPlugin):
    name = "wait"
    summary = ("Wait: {duration: 30s}, or for {rollout: deployment/NAME | deployment (all)}, {pods: SELECTOR}, "
               "{exists|gone: kind/name}, {jsonpath: EXPR, object: kind/name, equals: V}, {command: [argv]}; "
               "with namespace and timeout.")
    schema = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": [{"required": [c]} for c in CONDITIONS],
        "dependentRequired": {"jsonpath": ["object"], "equals": ["jsonpath"], "all": ["rollout"],
                              "min": ["pods"], "interval": ["command"]},
        "properties": {
            "duration": {**DURATION, "description": "Just wait this long."},
            "rollout": {"type": "string", "pattern": r"^[A-Za-z]+(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$",
                        "description": "deployment/NAME (or daemonset/, statefulset/); a bare kind waits for all."},
            "all": {"type": "boolean", "description": "With a bare rollout kind: every one in the namespace."},
            "pods": {"type": ["string", "object"], "description": "Label selector of pods that must all be Ready."},
            "min": {"type": "integer", "minimum": 0, "description": "pods: at least this many (default 1)."},
            "exists": {"type": "string", "pattern": "^[A-Za-z.]+/.+$", "description": "kind/name that must exist."},
            "gone": {"type": "string", "pattern": "^[A-Za-z.]+/.+$", "description": "kind/name that must be gone."},
            "jsonpath": {"type": "string", "description": "kubectl JSONPath on `object`, e.g. {.status.phase}."},
            "object": {"type": "string", "pattern": "^[A-Za-z.]+/.+$", "description": "jsonpath: kind/name."},
            "equals": {"type": ["string", "number", "boolean"], "description": "jsonpath: the wanted value "
                                                                              "(default: any non-empty value)."},
            "command": {"type": "array", "minItems": 1, "items": {"type": ["string", "number", "boolean"]},
                        "description": "argv run until it exits 0."},
            "interval": {**DURATION, "description": "command: pause between tries (default 2s)."},
            "namespace": {"type": "string", "description": "Namespace of the objects (default: default)."},
            "timeout": {**DURATION, "description": "Give up after this long (default: the step timeout, else 5m)."},
            "context": {"type": "string", "description": "Kubernetes context for this step."},
            "kubeconfig": {"type": "string", "description": "Kubeconfig for this step."},
        },
    }
    example = "with: {rollout: \"deployment/istiod-{{ rev }}\", namespace: istio-system, timeout: 5m}"

    def condition(self, args: dict) -> str:
        given = [c for c in CONDITIONS if c in args]
        if len(given) != 1:
            raise ValidationError(f"wait: {forms_message(CONDITIONS, given)}")
        return given[0]

    def describe(self, args: dict, options: RunOptions) -> str:
        cond = self.condition(args)
        if cond == "duration":
            return f"wait {format_duration(parse_duration(args['duration']))}"
        ns = f" in {args['namespace']}" if args.get("namespace") else ""
        limit = f" (timeout {format_duration(parse_duration(args['timeout']))})" if args.get("timeout") else ""
        if cond == "rollout":
            kind, name = _rollout_target(args)
            what = f"{kind.lower()}/{name}" if name else f"every {kind.lower()}"
            return f"wait for the rollout of {what}{ns} to complete{limit}"
        if cond == "pods":
            minimum = args.get("min", 1)
            return f"wait for pods {_selector(args['pods'])}{ns} to be Ready (at least {minimum}){limit}"
        if cond in ("exists", "gone"):
            return f"wait for {args[cond]}{ns} to {'exist' if cond == 'exists' else 'be gone'}{limit}"
        if cond == "jsonpath":
            want = f" == {to_arg(args['equals'])!r}" if "equals" in args else " to have a value"
            return f"wait for {args.get('object')}{ns} {args['jsonpath']}{want}{limit}"
        every = format_duration(parse_duration(args.get("interval", 2)))
        return f"wait until {shell_line(args['command'])} succeeds (every {every}){limit}"

    def expected_duration(self, args: dict) -> float | None:
        try:
            return parse_duration(args["duration"]) if self.condition(args) == "duration" else None
        except (ValueError, ValidationError):
            return None

    def _deadline(self, args: dict, ctx: StepContext) -> tuple[float, float]:
        budget = ctx.remaining()
        own = parse_duration(args["timeout"]) if args.get("timeout") else None
        limits = [x for x in (budget, own) if x is not None]
        seconds = min(limits) if limits else DEFAULT_TIMEOUT
        return time.time() + seconds, seconds

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        cond = self.condition(args)
        if cond == "duration":
            seconds = parse_duration(args["duration"])
            if ctx.cancel.wait(seconds):
                return Outcome(ok=False, message="cancelled", cancelled=True)
            return Outcome(ok=True, message=f"waited {format_duration(seconds)}")
        deadline, seconds = self._deadline(args, ctx)
        if cond == "command":
            return self._until_command(args, ctx, deadline, seconds)
        return self._watch(cond, args, ctx, deadline, seconds)

    def _watch(self, cond: str, args: dict, ctx: StepContext, deadline: float, seconds: float) -> Outcome:
        from ..api import KubeError, kube_client, split_ref, watch_until
        kube = kube_client(ctx.options, args.get("kubeconfig"), args.get("context"))
        ns = args.get("namespace") or "default"
        selector = None
        field = None
        if cond == "rollout":
            kind, name = _rollout_target(args)
            judge = judge_rollouts(kind, name)
            field = f"metadata.name={name}" if name else None
        elif cond == "pods":
            kind, selector = "Pod", args["pods"]
            judge = judge_pods(int(args.get("min", 1)))
        elif cond in ("exists", "gone"):
            kind, name = split_ref(args[cond])
            field = f"metadata.name={name}"
            judge = judge_presence(args[cond], cond == "exists")
        else:
            kind, name = split_ref(args["object"])
            field = f"metadata.name={name}"
            judge = judge_jsonpath(args["object"], args["jsonpath"], args.get("equals"))
        try:
            if not kube.resource(kind).namespaced:
                ns = None
            state, text = watch_until(kube, kind, ns, judge, deadline=deadline, cancel=ctx.cancel,
                                      progress=lambda line: ctx.emit("stdout", line), selector=selector,
                                      field_selector=field)
        except KubeError as err:
            return Outcome(ok=False, message=str(err).replace("\n", "; "))
        finally:
            kube.close()
        if state == "done":
            return Outcome(ok=True, message=text, outputs={"state": text})
        if state == "cancelled":
            return Outcome(ok=False, message=f"cancelled while waiting: {text}", cancelled=True)
        return Outcome(ok=False, timed_out=True, outputs={"state": text},
                       message=f"timed out after {format_duration(seconds)}: {text or 'nothing seen yet'}")

    def _until_command(self, args: dict, ctx: StepContext, deadline: float, seconds: float) -> Outcome:
        from ..api import run_process
        argv = [to_arg(a) for a in args["command"]]
        interval = parse_duration(args.get("interval", 2))
        tries = 0
        last = ""
        while True:
            tries += 1
            left = deadline - time.time()
            done = run_process(argv, timeout=max(left, 0.1), cancel=ctx.cancel, env=ctx.child_env())
            if done:
                return Outcome.from_process(done, message=f"succeeded after {tries} tr{'y' if tries == 1 else 'ies'}")
            tail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or [""]
            last = f"try {tries}: exit code {done.rc}" + (f": {tail[0]}" if tail[0] else "")
            if done.not_found:
                return Outcome.from_process(done, message=f"command not found: {argv[0]}")
            ctx.emit("stdout", last)
            if done.cancelled or ctx.cancel.is_set():
                return Outcome(ok=False, message=f"cancelled while waiting: {last}", cancelled=True)
            if time.time() + interval >= deadline or done.timed_out:
                return Outcome(ok=False, timed_out=True, rc=done.rc, stdout=done.stdout, stderr=done.stderr,
                               message=f"timed out after {format_duration(seconds)}: "
                                       f"{shell_line(argv)} still failing ({last})")
            if _sleep(ctx.cancel, interval):
                return Outcome(ok=False, message=f"cancelled while waiting: {last}", cancelled=True)


def _sleep(cancel: threading.Event, seconds: float) -> bool:
    return cancel.wait(seconds)


def _rollout_target(args: dict) -> tuple[str, str | None]:
    kind, _, name = str(args["rollout"]).partition("/")
    resolved = ROLLOUT_KINDS.get(kind.lower())
    if resolved is None:
        raise ValidationError(f"wait: rollout works on deployment, daemonset or statefulset, not '{kind}'")
    return resolved, (name or None)


def _selector(value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    return str(value)
