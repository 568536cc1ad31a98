"""`helm`: arguments passed through, or install/upgrade/uninstall/rollback of a release, each undone naturally.

Values given as a mapping are sent on stdin (`-f -`), so the plan shows the exact argv. Before an upgrade
or uninstall the release's current revision is read (`helm status -o json`); the rollback returns to it.
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from ..api import Outcome, RunOptions, StepContext, to_arg
from .cluster import ARGS_SCHEMA, CONNECTION_SCHEMA, ClusterTool, Invocation, exactly_one, tool_query

RELEASE = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "description": "Release name."}
_CHART_PROPS = {
    "release": RELEASE,
    "chart": {"type": "string", "description": "Chart reference (repo/name, path or URL)."},
    "namespace": {"type": "string"},
    "version": {"type": "string", "description": "Chart version (--version)."},
    "values": {"type": "object", "description": "Values (rendered), sent on stdin as -f -."},
    "values_file": {"type": ["string", "array"], "items": {"type": "string"},
                    "description": "Values file(s), e.g. template_file('values.yaml.j2')."},
    "set": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]},
            "description": "--set key=value overrides."},
    "create_namespace": {"type": "boolean"},
    "wait": {"type": "boolean", "description": "--wait for resources to be ready."},
    "timeout": {"type": "string", "description": "helm's own --timeout (e.g. 5m0s)."},
    "repo": {"type": "string", "description": "--repo URL of the chart repository."},
}
_RELEASE_REF = {"type": "object", "additionalProperties": False, "required": ["release"],
                "properties": {"release": RELEASE, "namespace": {"type": "string"}}}


class HelmPlugin(ClusterTool):
    name = "helm"
    tool = "helm"
    env_override = "PLAYBOOK_HELM"
    context_flag = "--kube-context"
    forms = ("args", "install", "upgrade", "uninstall", "rollback")
    summary = ("Run helm: {args: [...]} passed through, or {install|upgrade: {release, chart, namespace, values, "
               "values_file, set}}, {uninstall: {release}}, {rollback: {release, revision}}, each undone naturally.")
    schema = {
        "type": "object",
        "additionalProperties": False,
        "oneOf": exactly_one(forms),
        "properties": {
            "args": ARGS_SCHEMA,
            "install": {"type": "object", "additionalProperties": False, "required": ["release", "chart"],
                        "properties": _CHART_PROPS,
                        "description": "helm install RELEASE CHART ...; rollback uninstalls the release."},
            "upgrade": {"type": "object", "additionalProperties": False, "required": ["release", "chart"],
                        "properties": {**_CHART_PROPS, "install": {"type": "boolean", "default": True}},
                        "description": "helm upgrade --install ...; rollback returns to the previous revision "
                                       "(or uninstalls a release the upgrade created)."},
            "uninstall": {**_RELEASE_REF, "properties": {**_RELEASE_REF["properties"],
                                                         "keep_history": {"type": "boolean", "default": True},
                                                         "if_present": {"type": "boolean", "default": False}},
                          "description": "helm uninstall (--keep-history, so the rollback can restore it)."},
            "rollback": {**_RELEASE_REF, "required": ["release", "revision"],
                         "properties": {**_RELEASE_REF["properties"], "revision": {"type": "integer", "minimum": 0}},
                         "description": "helm rollback RELEASE REVISION."},
            **CONNECTION_SCHEMA,
        },
    }
    example = ("with: {upgrade: {release: \"istiod-{{ rev }}\", chart: istio/istiod, namespace: istio-system, "
               "values: {revision: \"{{ rev }}\"}}}")

    @staticmethod
    def _ns(spec: dict) -> list[str]:
        return ["-n", str(spec["namespace"])] if spec.get("namespace") else []

    def _chart_args(self, spec: dict) -> tuple[list[str], str | None]:
        argv = [str(spec["release"]), str(spec["chart"]), *self._ns(spec)]
        if spec.get("version"):
            argv += ["--version", str(spec["version"])]
        if spec.get("repo"):
            argv += ["--repo", str(spec["repo"])]
        if spec.get("create_namespace"):
            argv.append("--create-namespace")
        files = spec.get("values_file", [])
        for f in files if isinstance(files, list) else [files]:
            argv += ["-f", str(f)]
        stdin = None
        if spec.get("values"):
            argv += ["-f", "-"]
            stdin = yaml.safe_dump(spec["values"], sort_keys=False)
        for k, v in (spec.get("set") or {}).items():
            argv += ["--set", f"{k}={to_arg(v)}"]
        if spec.get("wait"):
            argv.append("--wait")
        if spec.get("timeout"):
            argv += ["--timeout", str(spec["timeout"])]
        return argv, stdin

    def invocation(self, args: dict, options: RunOptions) -> Invocation:
        form = self.form(args)
        if form in ("install", "upgrade"):
            spec = args[form]
            chart_args, stdin = self._chart_args(spec)
            head = ["install"] if form == "install" else ["upgrade"] + (["--install"] if spec.get("install", True)
                                                                        else [])
            note = f"values: {json.dumps(spec['values'], default=str)[:120]}" if stdin else ""
            return Invocation(head + chart_args, stdin=stdin, note=note)
        if form == "uninstall":
            spec = args["uninstall"]
            keep = ["--keep-history"] if spec.get("keep_history", True) else []
            return Invocation(["uninstall", str(spec["release"]), *self._ns(spec), *keep])
        if form == "rollback":
            spec = args["rollback"]
            return Invocation(["rollback", str(spec["release"]), str(spec["revision"]), *self._ns(spec)])
        return super().invocation(args, options)

    def plan_undo(self, args: dict, options: RunOptions) -> str | None:
        form = self.form(args)
        if form == "install":
            spec = args["install"]
            return f"$ helm uninstall {spec['release']}" + (f" -n {spec['namespace']}" if spec.get("namespace") else "")
        if form == "upgrade":
            return (f"helm rollback {args['upgrade']['release']} to the revision it had before "
                    f"(uninstall if the upgrade created it)")
        if form == "uninstall" and args["uninstall"].get("keep_history", True):
            return f"helm rollback {args['uninstall']['release']} to the revision it had before"
        return None

    def _current(self, args: dict, spec: dict, ctx: StepContext) -> int | None:
        """The release's current revision, or None when there is no live release of that name."""
        done = tool_query(self, args, ctx, ["status", str(spec["release"]), *self._ns(spec), "-o", "json"])
        if done:
            status = json.loads(done.stdout)
            # A release uninstalled with --keep-history is gone as far as installing is concerned.
            if (status.get("info") or {}).get("status") != "uninstalled":
                return int(status["version"])
            return None
        if "not found" not in (done.stderr + done.stdout).lower():
            raise RuntimeError(f"helm status {spec['release']} failed: {done.stderr.strip() or done.rc}")
        return None

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        form = self.form(args)
        # As a rollback, uninstalling what is not there is success: rollback actions must be idempotent.
        if form == "uninstall" and args["uninstall"].get("if_present") and \
                self._current(args, args["uninstall"], ctx) is None:
            return Outcome(ok=True, message=f"release {args['uninstall']['release']} is not installed: nothing to do")
        return super().run(args, ctx)

    def before(self, args: dict, ctx: StepContext) -> dict[str, Any]:
        form = self.form(args)
        if form not in ("install", "upgrade", "uninstall"):
            return {}
        spec = args[form]
        previous = self._current(args, spec, ctx)
        if form == "install":
            if previous is not None:
                return {"previous_revision": previous}  # the install will fail; the release is not ours to undo
            return {"undo": {"uninstall": {"release": spec["release"], **_ns_key(spec), "keep_history": False,
                                           "if_present": True}}, "previous_revision": None}
        if previous is None:
            if form == "upgrade":
                return {"undo": {"uninstall": {"release": spec["release"], **_ns_key(spec), "keep_history": False,
                                               "if_present": True}}, "previous_revision": None}
            return {"previous_revision": None}
        if form == "uninstall" and not spec.get("keep_history", True):
            return {"previous_revision": previous}
        return {"undo": {"rollback": {"release": spec["release"], "revision": int(previous), **_ns_key(spec)}},
                "previous_revision": previous}


def _ns_key(spec: dict) -> dict:
    return {"namespace": spec["namespace"]} if spec.get("namespace") else {}
