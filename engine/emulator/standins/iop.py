"""IstioOperator manifests and --set flags -> the objects ``istioctl install`` creates.

The object set itself comes from engine.emulator.istio_objects; this module translates the operator
spec into its Helm-style values and lays the k8s overlays (affinity, PDB, HPA, resources) over the result.
"""
from __future__ import annotations

import copy
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from engine.emulator import istio_objects as io

from .common import CommandError, parse_set, set_path

# The istioctl this stand-in pretends to be; a revision named like a version (1-20-0) installs that version.
DEFAULT_CLIENT_VERSION = "1.20.0"
REVISION_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def client_version() -> str:
    """The stand-in's own version ($PLAYBOOK_EMULATOR_ISTIOCTL_VERSION overrides the default)."""
    return os.environ.get("PLAYBOOK_EMULATOR_ISTIOCTL_VERSION", DEFAULT_CLIENT_VERSION)


def version_for(revision: str, explicit: str | None = None) -> str:
    """The Istio version an install of ``revision`` gets: an explicit tag, a 1-20-0 style name, or ours."""
    if explicit:
        return str(explicit)
    match = re.fullmatch(r"(\d+)-(\d+)-(\d+)", revision or "")
    return ".".join(match.groups()) if match else client_version()


def read_operator_files(paths: list[str]) -> dict:
    """The merged ``spec`` of every IstioOperator document in ``paths`` (later files win)."""
    spec: dict = {}
    for path in paths:
        try:
            text = Path(path).read_text() if path != "-" else sys.stdin.read()
        except OSError as exc:
            raise CommandError(f"open {path}: {exc.strerror.lower() if exc.strerror else exc}") from None
        try:
            docs = [d for d in yaml.safe_load_all(text) if d]
        except yaml.YAMLError as exc:
            raise CommandError(f"could not parse {path}: {exc}") from None
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "IstioOperator":
                raise CommandError(f'{path}: expected an IstioOperator, found kind "{doc.get("kind") if isinstance(doc, dict) else type(doc).__name__}"')
            spec = io.deep_merge(spec, doc.get("spec") or {})
    return spec


@dataclass
class InstallPlan:
    """What one ``istioctl install`` will create."""

    revision: str
    profile: str
    version: str
    spec: dict
    values: dict = field(default_factory=dict)
    gateway: bool = True
    objects: list[dict] = field(default_factory=list)


def build_plan(files: list[str], sets: list[str], revision_flag: str | None) -> InstallPlan:
    """Read -f files and --set flags (paths relative to the IstioOperator spec) into an InstallPlan."""
    spec = read_operator_files(files)
    for item in sets:
        key, value = parse_set(item)
        set_path(spec, key[len("spec."):] if key.startswith("spec.") else key, value)
    if revision_flag:
        spec["revision"] = revision_flag
    revision = str(spec.get("revision") or "default")
    if not REVISION_RE.match(revision) or len(revision) > 63:
        raise CommandError(f'invalid revision specified: "{revision}": must be a valid DNS label '
                           "(lowercase alphanumerics and '-')")
    profile = str(spec.get("profile") or "default")
    values = copy.deepcopy(spec.get("values") or {})
    explicit_tag = spec.get("tag") or (values.get("global") or {}).get("tag")
    version = version_for(revision, explicit_tag)
    if spec.get("hub"):
        values.setdefault("global", {})["hub"] = spec["hub"]
    if spec.get("meshConfig"):
        values["meshConfig"] = io.deep_merge(values.get("meshConfig") or {}, spec["meshConfig"])
    components = spec.get("components") or {}
    pilot_k8s = (components.get("pilot") or {}).get("k8s") or {}
    _component_values(values.setdefault("pilot", {}), pilot_k8s)
    gateways = components.get("ingressGateways")
    gateway_k8s: dict = {}
    gateway = True
    if gateways is not None:
        enabled = [g for g in gateways if g.get("enabled", True)]
        gateway = bool(enabled)
        gateway_k8s = (enabled[0].get("k8s") or {}) if enabled else {}
        gw_values = values.setdefault("gateways", {}).setdefault("istio-ingressgateway", {})
        _component_values(gw_values, gateway_k8s)
    plan = InstallPlan(revision, profile, version, spec, values, gateway)
    try:
        objs = io.control_plane_objects(revision, version, profile=profile, values=values, gateway=gateway)
    except ValueError as exc:
        raise CommandError(f'could not read profile "{profile}": {exc}') from None
    _overlay(objs, io.istiod_name(revision), pilot_k8s)
    _overlay(objs, io.gateway_name(revision), gateway_k8s)
    for obj in objs:
        if obj["kind"] == "IstioOperator":
            # The installed-state CR records the spec that was asked for, as the real istioctl saves it.
            obj["spec"] = io.deep_merge(obj["spec"], {k: v for k, v in spec.items() if k != "revision"})
            if revision != "default":
                obj["spec"]["revision"] = revision
    plan.objects = objs
    return plan


def _component_values(target: dict, k8s: dict) -> None:
    """The parts of a component's k8s block that are Helm values of the chart."""
    if "replicaCount" in k8s:
        target["replicaCount"] = int(k8s["replicaCount"])
    if "resources" in k8s:
        target["resources"] = k8s["resources"]
    hpa = k8s.get("hpaSpec") or {}
    if "minReplicas" in hpa:
        target["autoscaleMin"] = int(hpa["minReplicas"])
    if "maxReplicas" in hpa:
        target["autoscaleMax"] = int(hpa["maxReplicas"])


def _v2_metric(metric: dict) -> dict:
    """An autoscaling/v2beta1-style metric (targetAverageUtilization) in autoscaling/v2 form."""
    res = dict(metric.get("resource") or {})
    if "targetAverageUtilization" in res:
        res["target"] = {"type": "Utilization", "averageUtilization": res.pop("targetAverageUtilization")}
    return {**metric, "resource": res} if res else metric


def _overlay(objs: list[dict], name: str, k8s: dict) -> None:
    """Lay a component's k8s block (affinity, PDB, HPA metrics, resources...) over its objects."""
    if not k8s:
        return
    for obj in objs:
        if obj["metadata"].get("name") != name:
            continue
        if obj["kind"] == "Deployment":
            pod = obj["spec"]["template"]
            for key in ("affinity", "nodeSelector", "tolerations", "priorityClassName"):
                if key in k8s:
                    pod["spec"][key] = k8s[key]
            if "podAnnotations" in k8s:
                pod["metadata"].setdefault("annotations", {}).update(k8s["podAnnotations"])
            container = pod["spec"]["containers"][0]
            if "resources" in k8s:
                container["resources"] = k8s["resources"]
            if "env" in k8s:
                container["env"] = list(container.get("env") or []) + list(k8s["env"])
            if "strategy" in k8s:
                obj["spec"]["strategy"] = k8s["strategy"]
        elif obj["kind"] == "PodDisruptionBudget" and k8s.get("podDisruptionBudget"):
            pdb = dict(k8s["podDisruptionBudget"])
            obj["spec"] = {"selector": obj["spec"]["selector"], **pdb}
        elif obj["kind"] == "HorizontalPodAutoscaler" and (k8s.get("hpaSpec") or {}).get("metrics"):
            obj["spec"]["metrics"] = [_v2_metric(m) for m in k8s["hpaSpec"]["metrics"]]
