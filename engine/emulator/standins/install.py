"""``istioctl install`` and ``istioctl uninstall`` against the cluster's API."""
from __future__ import annotations

import time
from typing import TextIO

from engine.emulator.istio_objects import ISTIO_NAMESPACE, REV_LABEL, TAG_LABEL, tag_webhook

from . import mesh
from .common import CommandError, confirm, format_duration
from .iop import InstallPlan
from .kubeclient import ApiError, Conflict, KubeClient, NotFound

# Shared objects (no revision label) are created only when absent; these kinds are never removed by uninstall.
_NEVER_PRUNED = {"Namespace", "CustomResourceDefinition"}
# Kinds an install creates, scanned by uninstall for objects labelled with the revision.
_OWNED_KINDS = [
    ("apps/v1", "Deployment", True), ("v1", "Service", True), ("v1", "ConfigMap", True),
    ("v1", "ServiceAccount", True), ("autoscaling/v2", "HorizontalPodAutoscaler", True),
    ("policy/v1", "PodDisruptionBudget", True),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", False),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", False),
    ("install.istio.io/v1alpha1", "IstioOperator", True),
]
_COMPONENT_TITLES = {"Base": "Istio core", "Pilot": "Istiod", "IngressGateways": "Ingress gateways"}


def _component(obj: dict) -> str:
    labels = obj["metadata"].get("labels") or {}
    if REV_LABEL not in labels:
        return "Base"
    return labels.get("operator.istio.io/component", "Base")


def _key(obj: dict) -> str:
    meta = obj["metadata"]
    return f'{obj["kind"]}:{meta.get("namespace", "")}:{meta["name"]}'


def _create_or_replace(client: KubeClient, obj: dict) -> None:
    labels = obj["metadata"].get("labels") or {}
    try:
        client.create(obj)
    except Conflict:
        if REV_LABEL in labels and obj["kind"] not in _NEVER_PRUNED:
            client.replace(obj)  # re-installing a revision reconciles its own objects
    except NotFound:
        # A cluster without the CRD API still takes the install; anything else missing is an error.
        if obj["kind"] != "CustomResourceDefinition":
            raise


def previous_install_exists(client: KubeClient) -> bool:
    """True when any revision's sidecar-injector webhook is already there (real istioctl's test)."""
    hooks = client.list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                        label_selector="app=sidecar-injector")
    return any(TAG_LABEL not in (h["metadata"].get("labels") or {}) for h in hooks)


def _unready_lines(client: KubeClient, deployments: list[dict]) -> list[str]:
    lines = []
    for dep in deployments:
        current = client.get_or_none("apps/v1", "Deployment", dep["metadata"]["name"], ISTIO_NAMESPACE) or dep
        if not mesh.deployment_ready(client, current):
            names = [c["name"] for c in dep["spec"]["template"]["spec"]["containers"]]
            lines.append(f"  Deployment/{ISTIO_NAMESPACE}/{dep['metadata']['name']} "
                         f"(containers with unready status: [{' '.join(names)}])")
    return lines


def run_install(client: KubeClient, plan: InstallPlan, *, yes: bool, timeout: float,
                out: TextIO, err: TextIO) -> int:
    """Create the plan's objects component by component, wait for readiness, save the installed state."""
    components = ["Istio core", "Istiod"] + (["Ingress gateways"] if plan.gateway else [])
    if not yes:
        listing = ", ".join(components[:-1]) + (", and " if len(components) > 2 else " and ") + components[-1]
        prompt = (f'This will install the Istio {plan.version} "{plan.profile}" profile (with components: '
                  f"{listing}) into the cluster. Proceed? (y/N)")
        if not confirm(prompt, out):
            out.write("Cancelled.\n")
            return 1
    had_install = previous_install_exists(client)
    operator_cr = [o for o in plan.objects if o["kind"] == "IstioOperator"]
    groups: dict[str, list[dict]] = {"Base": [], "Pilot": [], "IngressGateways": []}
    for obj in plan.objects:
        if obj["kind"] != "IstioOperator":
            groups.setdefault(_component(obj), []).append(obj)
    deadline = time.monotonic() + timeout
    failed = False
    for component in ("Base", "Pilot", "IngressGateways"):
        objs = groups.get(component) or []
        if not objs:
            continue
        title = _COMPONENT_TITLES[component]
        try:
            for obj in objs:
                _create_or_replace(client, obj)
        except ApiError as exc:
            # Like istioctl: the component fails, the others are still attempted, the command fails at the end.
            failed = True
            err.write(f"✘ {title} encountered an error: failed to update resource with server-side apply for obj "
                      f"{_key(obj).replace(':', '/')}: {exc.message}\n")
            continue
        deployments = [o for o in objs if o["kind"] == "Deployment"]
        if _wait_ready(client, deployments, deadline):
            out.write(f"✔ {title} installed\n")
            out.flush()
            continue
        failed = True
        err.write(f"✘ {title} encountered an error: failed to wait for resource: resources not ready after "
                  f"{format_duration(timeout)}: context deadline exceeded\n")
        err.write("\n".join(_unready_lines(client, deployments)) + "\n")
    if failed:
        err.write("- Pruning removed resources\n")
        raise CommandError("failed to install manifests: errors occurred during operation")
    for obj in operator_cr:
        _create_or_replace(client, obj)
    out.write("✔ Installation complete\n")
    if not had_install or plan.revision == "default":
        # As istioctl does for a first install or the default revision: the default tag (re)points here.
        client.apply(tag_webhook("default", plan.revision))
        out.write("Made this installation the default for injection and validation.\n")
    return 0


def _wait_ready(client: KubeClient, deployments: list[dict], deadline: float) -> bool:
    while True:
        current = [client.get_or_none("apps/v1", "Deployment", d["metadata"]["name"], ISTIO_NAMESPACE)
                   for d in deployments]
        if all(c is not None and mesh.deployment_ready(client, c) for c in current):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def owned_objects(client: KubeClient, revision: str | None) -> list[dict]:
    """Objects istioctl installed for ``revision`` (every revision when None), tags and Helm's excluded."""
    selector = f"{REV_LABEL}={revision}" if revision else REV_LABEL
    found = []
    for api_version, kind, namespaced in _OWNED_KINDS:
        try:
            items = client.list(api_version, kind, ISTIO_NAMESPACE if namespaced else None, selector)
        except NotFound:
            continue
        for obj in items:
            labels = obj["metadata"].get("labels") or {}
            if TAG_LABEL in labels or labels.get("app.kubernetes.io/managed-by") == "Helm":
                continue
            found.append(obj)
    return found


def run_uninstall(client: KubeClient, revision: str | None, *, purge: bool, yes: bool,
                  out: TextIO, err: TextIO) -> int:
    """Remove a revision's objects (or, with purge, every revision's, the tags and shared objects)."""
    targets = owned_objects(client, None if purge else revision)
    if purge:
        hooks = client.list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                            label_selector=TAG_LABEL)
        targets += hooks
        for api_version, kind, name in (("v1", "Service", "istio-ingressgateway"),
                                        ("v1", "ServiceAccount", "istio-reader-service-account")):
            obj = client.get_or_none(api_version, kind, name, ISTIO_NAMESPACE)
            if obj is not None:
                targets.append({**obj, "apiVersion": api_version, "kind": kind})
    message = "All Istio resources will be pruned from the cluster\n" if purge else ""
    attached = [p.name for p in mesh.proxies(client) if p.revision == revision] if not purge else []
    if attached:
        message += (f"There are still {len(attached)} proxies pointing to the control plane revision {revision}\n"
                    + ("\n".join(attached) + "\n" if len(attached) <= 30 else "")
                    + "If you proceed with the uninstall, these proxies will become detached from any "
                      "control plane and will not function correctly.\n")
    gateways = sorted(o["metadata"]["name"] for o in targets if o["kind"] == "Deployment"
                      and (o["metadata"].get("labels") or {}).get("app") == "istio-ingressgateway")
    if gateways and not purge:
        message += (f"You are about to remove the following gateways: {', '.join(gateways)}. To avoid downtime, "
                    "please quit this command and reinstall the gateway(s) with a revision that is not being "
                    "removed from the cluster.\n")
    if not targets and not purge:
        out.write("No resources will be pruned from the cluster. Please double check the input configs\n")
    elif not yes and message:
        if not confirm(message + "Proceed? (y/N)", out):
            out.write("Cancelled.\n")
            return 1
    elif message:
        out.write(message)
    for obj in sorted(targets, key=_prune_order):
        meta = obj["metadata"]
        if client.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")):
            out.write(f"  Removed {_key(obj)}.\n")
    out.write("✔ Uninstall complete\n")
    return 0


def _prune_order(obj: dict) -> tuple[int, str]:
    # Webhooks first, so no new pod is sent to an istiod that is about to go away.
    rank = {"MutatingWebhookConfiguration": 0, "ValidatingWebhookConfiguration": 1, "Deployment": 2}
    return rank.get(obj["kind"], 3), _key(obj)
