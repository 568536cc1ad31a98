"""`kubectl`: arguments passed through, or `apply`/`delete` of manifests with a natural rollback.

Before `apply` changes anything it asks the cluster which of the objects exist and saves them under the run
directory; its rollback deletes what it created and re-applies what it changed, as it was. That undo is the
plugin's `undo` hook reading what `before` saved (`outputs.undo.undo_apply` in the journal): it is not a form
a playbook can write.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..api import Outcome, RunOptions, StepContext, ValidationError, is_placeholder, run_process, shell_line
from .cluster import ARGS_SCHEMA, CONNECTION_SCHEMA, ClusterTool, Invocation, exactly_one, mask_argv, tool_query

MANIFEST = {"type": ["string", "object", "array"], "oneOf": [{"type": "string", "minLength": 1}, {"type": "object"},
                      {"type": "array", "minItems": 1, "items": {"type": ["object", "string"]}}]}
# Server-set fields that must not be sent back when an object is restored.
_VOLATILE_META = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                  "deletionTimestamp", "deletionGracePeriodSeconds")
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_REF = re.compile(r"^[A-Za-z0-9.\-]+/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def manifest_objects(value: Any) -> list[dict]:
    """The objects of a manifest given as YAML text (one or many documents), a mapping or a list."""
    if isinstance(value, str):
        try:
            docs = [d for d in yaml.safe_load_all(value) if d is not None]
        except yaml.YAMLError as err:
            raise ValidationError(f"kubectl: the manifest is not YAML: {err}") from None
    elif isinstance(value, dict):
        docs = [value]
    else:
        docs = list(value)
    out: list[dict] = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            out.extend(doc.get("items") or [])
        elif isinstance(doc, dict):
            out.append(doc)
        else:
            raise ValidationError(f"kubectl: a manifest document must be a mapping, got {type(doc).__name__}")
    for obj in out:
        if not obj.get("kind") or not (obj.get("metadata") or {}).get("name"):
            raise ValidationError("kubectl: every manifest object needs `kind` and `metadata.name`",
                                  hint=f"got {json.dumps(obj, default=str)[:80]}")
    return out


def ref_of(obj: dict) -> dict:
    """The identifying part of an object (enough for `kubectl delete -f -`)."""
    meta = obj.get("metadata") or {}
    ref_meta = {"name": meta["name"]}
    if meta.get("namespace"):
        ref_meta["namespace"] = meta["namespace"]
    return {"apiVersion": obj.get("apiVersion", "v1"), "kind": obj["kind"], "metadata": ref_meta}


def label(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    ns = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')}/{ns}{meta.get('name')}"


def sanitized(obj: dict) -> dict:
    """An object as read from the server, made fit to be applied again."""
    obj = json.loads(json.dumps(obj))
    obj.pop("status", None)
    meta = obj.get("metadata") or {}
    for key in _VOLATILE_META:
        meta.pop(key, None)
    annotations = meta.get("annotations") or {}
    annotations.pop(_LAST_APPLIED, None)
    if not annotations:
        meta.pop("annotations", None)
    return obj


def _plural_note(objs: list[dict]) -> str:
    names = ", ".join(label(o) for o in objs[:4]) + (", ..." if len(objs) > 4 else "")
    return f"{len(objs)} object{'s' if len(objs) != 1 else ''}: {names}"


def dump(objs: list[dict]) -> str:
    return yaml.safe_dump_all(objs, sort_keys=False)


class KubectlPlugin(ClusterTool):
    name = "kubectl"
    tool = "kubectl"
    env_override = "PLAYBOOK_KUBECTL"
    forms = ("args", "apply", "delete")
    summary = ("Run kubectl: {args: [...]} passed through, or {apply: MANIFEST} / {delete: MANIFEST or [kind/name]} "
               "with a natural rollback; context/kubeconfig per step.")
    schema = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": exactly_one(forms),
        "properties": {
            "args": ARGS_SCHEMA,
            "apply": {**MANIFEST, "description": "Manifest to apply (YAML text, an object or a list), sent on "
                                                 "stdin; rollback deletes what it created, restores what it changed."},
            "delete": {**MANIFEST, "description": "Objects to delete (a manifest, or [kind/name, ...]); "
                                                  "rollback re-applies them as they were."},
            "namespace": {"type": "string", "description": "-n for apply/delete (objects without a namespace)."},
            "server_side": {"type": "boolean", "description": "apply with --server-side."},
            **CONNECTION_SCHEMA,
        },
    }
    example = "with: {apply: \"{{ template('templates/gateway.yaml.j2') }}\", namespace: istio-system}"

    # -- arguments ---------------------------------------------------------------------------------

    def _ns(self, args: dict) -> list[str]:
        return ["-n", str(args["namespace"])] if args.get("namespace") else []

    def invocation(self, args: dict, options: RunOptions) -> Invocation:
        form = self.form(args)
        if form in ("apply", "delete") and is_placeholder(args[form]):
            # In a plan, a manifest rendered from run-time values is shown as its placeholder.
            return Invocation([form, "-f", "-", *self._ns(args)], stdin="", note=str(args[form]))
        if form == "apply":
            objs = manifest_objects(args["apply"])
            argv = ["apply", "-f", "-", *self._ns(args)]
            if args.get("server_side"):
                argv.append("--server-side")
            if options.dry_run and options.server_dry_run:
                argv.append("--dry-run=server")
            return Invocation(argv, stdin=dump(objs), note=_plural_note(objs))
        if form == "delete":
            value = args["delete"]
            if isinstance(value, list) and all(isinstance(v, str) and _REF.match(v) for v in value):
                return Invocation(["delete", *value, *self._ns(args), "--ignore-not-found"])
            objs = [ref_of(o) for o in manifest_objects(value)]
            return Invocation(["delete", "-f", "-", *self._ns(args), "--ignore-not-found"], stdin=dump(objs),
                              note=_plural_note(objs))
        return super().invocation(args, options)

    def describe(self, args: dict, options: RunOptions) -> str:
        line = super().describe(args, options)
        if options.dry_run and options.server_dry_run and self.form(args) == "apply" \
                and not is_placeholder(args["apply"]):
            line += "\n" + self.server_check(args, options)
        return line

    def plan_undo(self, args: dict, options: RunOptions) -> str | None:
        form = self.form(args)
        if form == "apply":
            what = str(args["apply"]) if is_placeholder(args["apply"]) else _plural_note(manifest_objects(args["apply"]))
            return (f"kubectl: delete what the apply created and re-apply the saved previous state of what it "
                    f"changed (saved at run time; {what})")
        if form == "delete":
            return "kubectl: re-apply the deleted objects as saved just before the delete"
        return None

    # -- running -----------------------------------------------------------------------------------

    def before(self, args: dict, ctx: StepContext) -> dict[str, Any]:
        form = self.form(args)
        if form not in ("apply", "delete"):
            return {}
        inv = self.invocation(args, ctx.options)
        value = args[form]
        if inv.stdin is None:  # delete of kind/name refs
            query = ["get", *value, *self._ns(args), "-o", "json", "--ignore-not-found"]
            wanted: list[dict] = []
        else:
            wanted = manifest_objects(value)
            query = ["get", "-f", "-", *self._ns(args), "-o", "json", "--ignore-not-found"]
        done = tool_query(self, args, ctx, query, stdin=dump([ref_of(o) for o in wanted]) if wanted else None)
        if done:
            found = _objects_in(done.stdout)
        elif wanted and _unknown_kind(done.stderr):
            # A manifest may bring its own CRD: objects of a kind the server does not know yet cannot exist yet.
            found = []
            for obj in wanted:
                one = tool_query(self, args, ctx, query, stdin=dump([ref_of(obj)]))
                if one:
                    found += _objects_in(one.stdout)
                elif not _unknown_kind(one.stderr):
                    raise RuntimeError(f"kubectl get {label(obj)} failed: {_last_line(one)}")
        else:
            raise RuntimeError(f"kubectl {' '.join(query[:3])} failed: {_last_line(done)}")
        saved_path = None
        if found:
            saved_dir = Path(ctx.run_dir) / "saved"
            saved_dir.mkdir(parents=True, exist_ok=True)
            safe_key = re.sub(r"[^A-Za-z0-9_.-]+", "_", ctx.key)
            saved = saved_dir / f"{safe_key}.yaml"
            saved.write_text(dump([sanitized(o) for o in found]), encoding="utf-8")
            saved_path = str(saved)
        existing = {_identity(o, with_ns=True) for o in found} | {_identity(o, with_ns=False) for o in found}
        created = [ref_of(o) for o in wanted if _identity(o, with_ns=bool((o.get("metadata") or {})
                                                                         .get("namespace"))) not in existing]
        if form == "delete":
            created = []
        outputs: dict[str, Any] = {"saved": saved_path, "created": [label(o) for o in created],
                                   "changed": [label(o) for o in found]}
        if created or saved_path:
            undo = {"undo_apply": {"delete": list(reversed(created)), "restore": saved_path}}
            if args.get("namespace"):
                undo["namespace"] = args["namespace"]
            outputs["undo"] = undo
        return outputs

    # -- the natural undo of apply and delete ----------------------------------------------------------

    def _undo_calls(self, undo: dict) -> list[Invocation]:
        """What undoes an apply, from what `before` saved (data, never rendered): delete what it created, then
        re-apply the saved state of what it changed."""
        saved = undo.get("undo_apply") or {}
        calls = []
        if saved.get("delete"):
            calls.append(Invocation(["delete", "-f", "-", *self._ns(undo), "--ignore-not-found"],
                                    stdin=dump(saved["delete"]), note=_plural_note(saved["delete"])))
        if saved.get("restore"):
            calls.append(Invocation(["apply", "-f", str(saved["restore"]), *self._ns(undo)]))
        return calls

    def describe_undo(self, args: dict, done: Outcome | None, options: RunOptions) -> str | None:
        if done is None:
            return self.plan_undo(args, options)
        undo = self.undo_args(args, done)
        if undo is None:
            return None
        lines = []
        for inv in self._undo_calls(undo):
            line = shell_line(mask_argv([self.program(options), *self.connection(undo, options), *inv.args]))
            lines.append(line + (f"  <<< {inv.note}" if inv.stdin is not None else ""))
        return "; then ".join(lines) or "nothing to undo"

    def undo(self, args: dict, done: Outcome, ctx: StepContext) -> Outcome:
        undo = self.undo_args(args, done)
        outcome = Outcome(ok=True, message="nothing to undo")
        for inv in self._undo_calls(undo or {}):
            outcome = self.run_invocation(undo, inv, ctx, form="undo_apply")
            if not outcome.ok:
                break
        return outcome

    def server_check(self, args: dict, options: RunOptions) -> str:
        """What the API server says of an `apply` sent with --dry-run=server (it changes nothing)."""
        opts = dataclasses.replace(options, dry_run=True, server_dry_run=True)
        argv, inv = self.argv(args, opts)
        done = run_process(argv, timeout=60.0, env={**os.environ, **options.env}, stdin=inv.stdin)
        if done.not_found:
            return f"server check skipped: '{argv[0]}' not found"
        text = "; ".join(line.strip(" *") for line in (done.stdout + done.stderr).strip().splitlines() if line.strip())
        return ("server check: accepted: " if done else "server check: REJECTED: ") + text


def _unknown_kind(stderr: str) -> bool:
    return any(s in stderr for s in ("no matches for kind", "doesn't have a resource type",
                                      "resource mapping not found"))


def _last_line(done: Any) -> str:
    lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return lines[-1] if lines else f"exit code {done.rc}"


def _objects_in(text: str) -> list[dict]:
    text = text.strip()
    if not text:
        return []
    data = json.loads(text)
    if isinstance(data, dict) and data.get("kind", "").endswith("List") and "items" in data:
        return list(data["items"])
    return [data] if isinstance(data, dict) else list(data)


def _identity(obj: dict, *, with_ns: bool) -> tuple:
    meta = obj.get("metadata") or {}
    return (obj.get("kind"), meta.get("name"), meta.get("namespace") if with_ns else None)

