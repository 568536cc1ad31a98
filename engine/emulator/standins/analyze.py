"""``istioctl analyze`` and ``istioctl x precheck``: Istio's analyzer messages (codes, levels, wording) for
what the emulator can know: injection labels, proxies that need a restart, webhooks without their istiod.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import TextIO

import yaml

from engine.emulator.istio_objects import ISTIO_NAMESPACE, REV_LABEL, injector_configmap_name

from . import mesh
from .common import CommandError
from .kubeclient import ApiError, KubeClient

ANALYSIS_URL = "https://istio.io/v1.20/docs/reference/config/analysis"
SYSTEM_NAMESPACES = {"kube-system", "kube-public", "kube-node-lease", "local-path-storage", ISTIO_NAMESPACE}
ANALYZE_FOUND_ISSUES_EXIT = 79  # istioctl's exit code when analyzers report at or above --failure-threshold
LEVELS = {"Info": 0, "Warning": 1, "Error": 2}
MIN_KUBERNETES = (1, 25)


@dataclass(frozen=True)
class Message:
    """One analyzer finding."""

    level: str
    code: str
    origin: str
    text: str

    def render(self) -> str:
        """The real tool's 'log' format."""
        return f"{self.level} [{self.code}] ({self.origin}) {self.text}"


def _injector_image(client: KubeClient, revision: str) -> str | None:
    cm = client.get_or_none("v1", "ConfigMap", injector_configmap_name(revision), ISTIO_NAMESPACE)
    if cm is None:
        return None
    try:
        values = json.loads((cm.get("data") or {}).get("values") or "{}")
    except ValueError:
        return None
    glob = values.get("global") or {}
    proxy_image = (glob.get("proxy") or {}).get("image", "proxyv2")
    return f"{glob.get('hub', 'docker.io/istio')}/{proxy_image}:{glob.get('tag', '')}"


def analyze_messages(client: KubeClient, namespace: str | None) -> list[Message]:
    """The findings for one namespace, or for all (``namespace`` None)."""
    revisions = {r.name for r in mesh.revisions(client)}
    tag_map = mesh.tags(client)
    msgs: list[Message] = []
    namespaces = client.list("v1", "Namespace")
    if namespace is not None:
        namespaces = [n for n in namespaces if n["metadata"]["name"] == namespace]
    injected: dict[str, str] = {}
    for ns in namespaces:
        name = ns["metadata"]["name"]
        if name in SYSTEM_NAMESPACES:
            continue
        labels = ns["metadata"].get("labels") or {}
        legacy, rev = labels.get("istio-injection"), labels.get(REV_LABEL)
        origin = f"Namespace {name}"
        if legacy is None and rev is None:
            msgs.append(Message("Info", "IST0102", origin,
                                f"The namespace is not enabled for Istio injection. Run 'kubectl label namespace "
                                f"{name} istio-injection=enabled' to enable it, or 'kubectl label namespace {name} "
                                "istio-injection=disabled' to explicitly mark it as not needing injection."))
            continue
        if legacy is not None and rev is not None:
            msgs.append(Message("Warning", "IST0123", origin,
                                "The namespace has both new and legacy injection labels. Run 'kubectl label "
                                f"namespace {name} istio.io/rev-' or 'kubectl label namespace {name} "
                                "istio-injection-'"))
            continue
        if rev is None and legacy != "enabled":
            continue  # deliberately not injected
        wanted = rev if rev is not None else "default"
        target = mesh.resolve_revision(wanted, tag_map)
        if target not in revisions:
            what = "revision tag or revision" if rev is not None else "default revision"
            msgs.append(Message("Error", "IST0101", origin, f'Referenced {what} not found: "{wanted}"'))
            continue
        injected[name] = target
    msgs += _pod_messages(client, injected)
    msgs += _webhook_messages(client)
    return sorted(msgs, key=lambda m: (m.origin, m.code))


def _pod_messages(client: KubeClient, injected: dict[str, str]) -> list[Message]:
    msgs = []
    images = {rev: _injector_image(client, rev) for rev in set(injected.values())}
    for ns, rev in sorted(injected.items()):
        mismatched = []
        for pod in client.list("v1", "Pod", ns):
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            inject = (meta.get("labels") or {}).get("sidecar.istio.io/inject",
                                                    (meta.get("annotations") or {}).get("sidecar.istio.io/inject"))
            if str(inject).lower() == "false":
                continue
            proxy = next((c for c in pod["spec"].get("containers") or [] if c.get("name") == mesh.PROXY_CONTAINER),
                         None)
            if proxy is None:
                msgs.append(Message("Warning", "IST0103", f"Pod {meta['name']}.{ns}",
                                    f"The pod {meta['name']}.{ns} is missing the Istio proxy. This can often be "
                                    "resolved by restarting or redeploying the workload."))
            elif images[rev] and proxy.get("image") != images[rev]:
                mismatched.append(meta["name"])
        if mismatched:
            msgs.append(Message("Warning", "IST0158", f"Namespace {ns}",
                                "The Istio proxy images of the pods running in the namespace do not match the image "
                                f"defined in the injection configuration (pod names: [{' '.join(sorted(mismatched))}]). "
                                "This often happens after upgrading the Istio control-plane and can be fixed by "
                                "redeploying the pods."))
    return msgs


def _webhook_messages(client: KubeClient) -> list[Message]:
    """Istio's webhook analyzer: an injector (MutatingWebhookConfiguration) whose istiod Service is gone."""
    services = {(s["metadata"].get("namespace"), s["metadata"]["name"]) for s in client.list("v1", "Service")}
    msgs = []
    for hook in client.list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"):
        for wh in hook.get("webhooks") or []:
            svc = (wh.get("clientConfig") or {}).get("service")
            if not svc or not str(wh.get("name", "")).endswith("istio.io"):
                continue  # a URL webhook, or not Istio's
            if (svc.get("namespace"), svc.get("name")) not in services:
                msgs.append(Message("Error", "IST0139", f"MutatingWebhookConfiguration {hook['metadata']['name']}",
                                    "Injector refers to a control plane service that does not exist: "
                                    f"{svc.get('namespace')}/{svc.get('name')}."))
                break
    return msgs


def suppressed(msg: Message, rules: list[str]) -> bool:
    """istioctl's --suppress: 'CODE=Kind name' (shell-style wildcards), e.g. 'IST0102=Namespace default'."""
    for rule in rules:
        code, _, origin = rule.partition("=")
        if fnmatch.fnmatchcase(msg.code, code.strip()) and fnmatch.fnmatchcase(msg.origin, origin.strip() or "*"):
            return True
    return False


def analyze(client: KubeClient, *, namespace: str | None, failure_threshold: str, output_threshold: str,
            output: str, out: TextIO, err: TextIO, suppress: list[str] | None = None) -> int:
    """Print findings at or above the output threshold; exit 79 when any reach the failure threshold."""
    target = "all namespaces" if namespace is None else f"namespace: {namespace}"
    msgs = [m for m in analyze_messages(client, namespace) if not suppressed(m, suppress or [])]
    shown = [m for m in msgs if LEVELS[m.level] >= LEVELS[output_threshold]]
    docs = [{"code": m.code, "level": m.level, "origin": m.origin, "message": m.text,
             "documentationUrl": f"{ANALYSIS_URL}/{m.code.lower()}/"} for m in shown]
    if output == "json":
        out.write(json.dumps(docs, indent=2) + "\n")
    elif output == "yaml":
        out.write(yaml.safe_dump(docs, sort_keys=False) if docs else "[]\n")
    elif shown:
        out.write("".join(m.render() + "\n" for m in shown))
    else:
        err.write(f"✔ No validation issues found when analyzing {target}.\n")
    if any(LEVELS[m.level] >= LEVELS[failure_threshold] for m in msgs):
        raise CommandError(f"Analyzers found issues when analyzing {target}.\nSee {ANALYSIS_URL} for more "
                           "information about causes and resolutions.", ANALYZE_FOUND_ISSUES_EXIT)
    return 0


# -- x precheck ------------------------------------------------------------------------------------

def _server_version(client: KubeClient) -> tuple[int, int] | None:
    try:
        doc = client.request("GET", "/version") or {}
    except ApiError:
        return None
    major = re.sub(r"\D", "", str(doc.get("major", "")))
    minor = re.sub(r"\D", "", str(doc.get("minor", "")))
    return (int(major), int(minor)) if major and minor else None


def precheck(client: KubeClient, *, out: TextIO, err: TextIO) -> int:
    """The Kubernetes version check of istioctl's precheck (its permission, alpha-annotation and localhost-listener
    checks have nothing to find in the emulator); the success line goes to stderr like the real one."""
    msgs = []
    server = _server_version(client)
    if server is not None and server < MIN_KUBERNETES:
        msgs.append(Message("Error", "IST0142", "Cluster",
                            f'The Kubernetes Version "{server[0]}.{server[1]}" is lower than the minimum version: '
                            f"{MIN_KUBERNETES[0]}.{MIN_KUBERNETES[1]}"))
    if not msgs:
        err.write("✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n"
                  "  To get started, check out https://istio.io/latest/docs/setup/getting-started/\n")
        return 0
    out.write("".join(m.render() + "\n" for m in msgs))
    if any(LEVELS[m.level] >= LEVELS["Warning"] for m in msgs):
        raise CommandError("Issues found when checking the cluster. Istio may not be safe to install or upgrade.\n"
                           f"See {ANALYSIS_URL} for more information about causes and resolutions.")
    return 0
