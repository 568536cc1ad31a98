"""`istioctl`: arguments passed through, or the forms a canary upgrade needs, each with its natural rollback.

`install` of a new revision is undone by uninstalling it (a revision that already existed is re-installed
from its saved IstioOperator instead); `uninstall` saves the IstioOperator first and re-installs from it;
`tag_set`/`tag_remove` put the tag back where it pointed before.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from ..api import Outcome, RunOptions, StepContext, to_arg
from .cluster import ARGS_SCHEMA, CONNECTION_SCHEMA, ClusterTool, Invocation, exactly_one

REVISION = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
            "description": "Control-plane revision (`default` for the unrevisioned one)."}
SETS = {"type": ["object", "array"], "oneOf": [{"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
                  {"type": "array", "items": {"type": "string", "pattern": "="}}],
        "description": "--set path=value overrides (a mapping, or a list of path=value)."}


def suffix(revision: str) -> str:
    """`-REV`, or nothing for the default revision (Istio's naming)."""
    return "" if revision in ("", "default") else f"-{revision}"


def _sets(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [f"{k}={to_arg(v)}" for k, v in value.items()]
    return [str(v) for v in value or []]


class IstioctlPlugin(ClusterTool):
    name = "istioctl"
    tool = "istioctl"
    env_override = "PLAYBOOK_ISTIOCTL"
    forms = ("args", "install", "uninstall", "tag_set", "tag_remove")
    summary = ("Run istioctl: {args: [...]} passed through, or {install: {revision, file, set}}, "
               "{uninstall: {revision}}, {tag_set: {tag, revision}}, {tag_remove: {tag}}, each undone naturally.")
    schema = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": exactly_one(forms),
        "properties": {
            "args": ARGS_SCHEMA,
            "install": {"type": "object", "additionalProperties": False, "required": ["revision"],
                        "properties": {"revision": REVISION,
                                       "file": {"type": ["string", "array"], "items": {"type": "string"},
                                                "description": "IstioOperator file(s), e.g. template_file(...)."},
                                       "set": SETS, "profile": {"type": "string"},
                                       "readiness_timeout": {"type": "string"}},
                        "description": "istioctl install -y --revision R [-f FILE] [--set k=v]; "
                                       "rollback uninstalls R (if R is new)."},
            "uninstall": {"type": "object", "additionalProperties": False, "required": ["revision"],
                          "properties": {"revision": REVISION},
                          "description": "istioctl uninstall -y --revision R; rollback re-installs it as saved."},
            "tag_set": {"type": "object", "additionalProperties": False, "required": ["tag", "revision"],
                        "properties": {"tag": {"type": "string"}, "revision": REVISION,
                                       "overwrite": {"type": "boolean", "default": True}},
                        "description": "istioctl tag set TAG --revision R --overwrite; rollback restores the tag."},
            "tag_remove": {"type": "object", "additionalProperties": False, "required": ["tag"],
                           "properties": {"tag": {"type": "string"},
                                          "missing_ok": {"type": "boolean", "default": False,
                                                         "description": "Succeed when the tag is already gone."}},
                           "description": "istioctl tag remove TAG; rollback sets it back."},
            "istio_namespace": {"type": "string", "default": "istio-system",
                                "description": "Where the control plane lives (-i)."},
            **CONNECTION_SCHEMA,
        },
    }
    example = "with: {install: {revision: \"{{ rev }}\", file: \"{{ template_file('templates/iop.yaml.j2') }}\"}}"

    def _ns_flag(self, args: dict) -> list[str]:
        ns = args.get("istio_namespace")
        return ["-i", str(ns)] if ns and ns != "istio-system" else []

    def invocation(self, args: dict, options: RunOptions) -> Invocation:
        form = self.form(args)
        if form == "install":
            spec = args["install"]
            files = spec.get("file", [])
            argv = ["install", "-y", "--revision", str(spec["revision"])]
            for f in files if isinstance(files, list) else [files]:
                argv += ["-f", str(f)]
            if spec.get("profile"):
                argv += ["--set", f"profile={spec['profile']}"]
            for s in _sets(spec.get("set")):
                argv += ["--set", s]
            if spec.get("readiness_timeout"):
                argv += ["--readiness-timeout", str(spec["readiness_timeout"])]
            return Invocation(argv + self._ns_flag(args))
        if form == "uninstall":
            return Invocation(["uninstall", "-y", "--revision", str(args["uninstall"]["revision"]),
                               *self._ns_flag(args)])
        if form == "tag_set":
            spec = args["tag_set"]
            argv = ["tag", "set", str(spec["tag"]), "--revision", str(spec["revision"])]
            if spec.get("overwrite", True):
                argv.append("--overwrite")
            return Invocation(argv + self._ns_flag(args))
        if form == "tag_remove":
            return Invocation(["tag", "remove", str(args["tag_remove"]["tag"]), "-y", *self._ns_flag(args)])
        return super().invocation(args, options)

    def plan_undo(self, args: dict, options: RunOptions) -> str | None:
        form = self.form(args)
        if form == "install":
            rev = args["install"]["revision"]
            return (f"$ istioctl uninstall -y --revision {rev}  (if revision {rev} is new; "
                    f"else re-install it from its saved IstioOperator)")
        if form == "uninstall":
            return f"re-install revision {args['uninstall']['revision']} from its IstioOperator saved before"
        if form == "tag_set":
            return f"point tag {args['tag_set']['tag']} back at the revision it had before (or remove it if new)"
        if form == "tag_remove":
            return f"set tag {args['tag_remove']['tag']} again on the revision it pointed at"
        return None

    # -- what to undo --------------------------------------------------------------------------------

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        if self.form(args) == "tag_remove" and args["tag_remove"].get("missing_ok"):
            tag = str(args["tag_remove"]["tag"])
            kube = self.kube(args, ctx.options)
            try:
                present = kube.find("mutatingwebhookconfiguration", f"istio-revision-tag-{tag}") is not None
            finally:
                kube.close()
            if not present:
                return Outcome(ok=True, message=f"tag {tag} is already absent", outputs={"form": "tag_remove"})
        return super().run(args, ctx)

    def before(self, args: dict, ctx: StepContext) -> dict[str, Any]:
        kube = self.kube(args, ctx.options)
        try:
            return self._before(args, ctx, kube)
        finally:
            kube.close()

    def _before(self, args: dict, ctx: StepContext, kube: Any) -> dict[str, Any]:
        form = self.form(args)
        ns = args.get("istio_namespace") or "istio-system"
        if form in ("install", "uninstall"):
            rev = str(args[form]["revision"])
            exists = kube.find("deployment", f"istiod{suffix(rev)}", ns) is not None
            saved = self._save_operator(kube, rev, ns, ctx) if exists else None
            if form == "install" and not exists:
                return {"undo": {"uninstall": {"revision": rev}, **self._keep_ns(args)}, "revision_was_new": True}
            if saved:
                return {"undo": {"install": {"revision": rev, "file": saved}, **self._keep_ns(args)},
                        "saved": saved, "revision_was_new": False}
            return {"revision_was_new": not exists}
        if form in ("tag_set", "tag_remove"):
            tag = str(args[form]["tag"])
            hook = kube.find("mutatingwebhookconfiguration", f"istio-revision-tag-{tag}")
            previous = ((hook or {}).get("metadata") or {}).get("labels", {}).get("istio.io/rev")
            if previous:
                undo = {"tag_set": {"tag": tag, "revision": previous, "overwrite": True}}
            elif form == "tag_set":
                # Idempotent: the tag may never have been made if `tag set` failed half-way.
                undo = {"tag_remove": {"tag": tag, "missing_ok": True}}
            else:
                return {"previous_revision": None}
            return {"undo": {**undo, **self._keep_ns(args)}, "previous_revision": previous}
        return {}

    @staticmethod
    def _keep_ns(args: dict) -> dict:
        return {"istio_namespace": args["istio_namespace"]} if args.get("istio_namespace") else {}

    @staticmethod
    def _save_operator(kube, rev: str, ns: str, ctx: StepContext) -> str | None:
        iop = kube.find("istiooperator", f"installed-state{suffix(rev)}", ns)
        if iop is None:
            return None
        doc = {"apiVersion": iop.get("apiVersion", "install.istio.io/v1alpha1"), "kind": "IstioOperator",
               "metadata": {"name": f"restore{suffix(rev)}", "namespace": ns}, "spec": iop.get("spec") or {}}
        out_dir = Path(ctx.run_dir) / "saved"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', ctx.key)}-istiooperator-{rev}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
        return str(path)
