"""`playbook snapshot`: read a live cluster through the official Kubernetes client into one YAML file (a
``v1 List`` that ``kubectl``, the emulator and ``playbook rehearse`` all read).

What it reads: nodes, namespaces, workloads of every kind with their ReplicaSets and pods, PDBs, HPAs,
services, configmaps, service accounts, webhook configurations, CRDs, the Istio (and Gateway API) custom
resources, and Argo Rollouts. Only reads (list, with paging). Secret values are never read: secrets are
listed as metadata only (``PartialObjectMetadataList``), and whatever a server sends beyond metadata is
dropped before it is kept.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import PlaybookError

SNAPSHOT_FORMAT = "1"
ANNOTATION = "playbook.dev/"
REDACTED = ANNOTATION + "redacted"
_PAGE = 500
_METADATA_ONLY = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class Resource:
    """One listable resource: where it is served and the kind its items are."""

    group: str
    version: str
    plural: str
    kind: str

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path(self) -> str:
        base = f"/apis/{self.group}" if self.group else "/api"
        return f"{base}/{self.version}/{self.plural}"

    @property
    def name(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


BUILTIN: tuple[Resource, ...] = tuple(Resource(*r) for r in (
    ("", "v1", "nodes", "Node"), ("", "v1", "namespaces", "Namespace"),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition"),
    ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration"),
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration"),
    ("apps", "v1", "deployments", "Deployment"), ("apps", "v1", "statefulsets", "StatefulSet"),
    ("apps", "v1", "daemonsets", "DaemonSet"), ("apps", "v1", "replicasets", "ReplicaSet"),
    ("batch", "v1", "jobs", "Job"), ("batch", "v1", "cronjobs", "CronJob"),
    ("", "v1", "pods", "Pod"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler"),
    ("", "v1", "services", "Service"), ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "serviceaccounts", "ServiceAccount"), ("", "v1", "secrets", "Secret"),
    ("networking.k8s.io", "v1", "ingresses", "Ingress"),
))
# Custom resources read besides the CRDs themselves: group (and its subgroups) -> plurals (None: all).
# Istio's and the Gateway API's configure the mesh; Argo Rollouts are workloads an upgrade restarts.
_CUSTOM: dict[str, frozenset[str] | None] = {"istio.io": None, "gateway.networking.k8s.io": None,
                                             "argoproj.io": frozenset({"rollouts"})}


class SnapshotError(PlaybookError):
    """The cluster could not be read (no kubeconfig, unreachable, refused)."""

    exit_code = 2


@dataclass
class Snapshot:
    """What was read: the objects, and the resources that could not be read with why."""

    items: list[dict] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    context: str = ""
    server: str = ""
    server_version: str = ""
    taken: str = ""

    def document(self) -> dict:
        """The snapshot as a ``v1 List``; its own facts are annotations, so any client reads it as a list."""
        annotations = {ANNOTATION + "snapshot-format": SNAPSHOT_FORMAT, ANNOTATION + "context": self.context,
                       ANNOTATION + "server": self.server, ANNOTATION + "server-version": self.server_version,
                       ANNOTATION + "taken": self.taken}
        if self.unreadable:
            annotations[ANNOTATION + "unreadable"] = json.dumps(self.unreadable, sort_keys=True)
        return {"apiVersion": "v1", "kind": "List",
                "metadata": {"resourceVersion": "", "annotations": annotations}, "items": self.items}


Progress = Callable[[int, int, str, int], None]


def take_snapshot(*, context: str | None = None, kubeconfig: str | None = None,
                  progress: Progress | None = None) -> Snapshot:
    """Read the cluster of ``context`` (default: the current one) with the official client; reads only."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException
    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context)
        _, current = config.list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, OSError, TypeError) as exc:
        raise SnapshotError(f"cannot load the kubeconfig{f' context {context}' if context else ''}: {exc}",
                            hint="pass --context or --kubeconfig, or set KUBECONFIG") from None
    reader = _Reader(api, client)
    snap = Snapshot(context=context or (current or {}).get("name", ""), server=api.configuration.host,
                    taken=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
    try:
        snap.server_version = str(reader.get("/version").get("gitVersion", ""))
    except _ReadError as exc:
        raise SnapshotError(f"cannot reach the cluster at {snap.server}: {exc}") from None
    resources = list(BUILTIN)
    total = 0
    position = 0

    def read(res: Resource, planned: int) -> list[dict]:
        nonlocal total, position
        position += 1
        try:
            items = reader.list(res)
        except _ReadError as exc:
            snap.unreadable[res.name] = str(exc)
            items = []
        total += len(items)
        if progress:
            progress(position, planned, res.name, total)
        return items

    planned = len(resources)
    crds: list[dict] = []
    for res in resources:
        items = read(res, planned)
        if res.plural == "customresourcedefinitions":
            crds = items
            custom = _custom_resources(crds)
            planned += len(custom)
            resources += custom
        snap.items += [_redact(i) if res.kind == "Secret" else i for i in items]
    api.close()
    return snap


def _custom_resources(crds: list[dict]) -> list[Resource]:
    out = []
    for crd in crds:
        spec = crd.get("spec") or {}
        group = spec.get("group", "")
        plural = (spec.get("names") or {}).get("plural", "")
        wanted = [p for g, p in _CUSTOM.items() if group == g or group.endswith("." + g)]
        if not wanted or (wanted[0] is not None and plural not in wanted[0]):
            continue
        versions = [v for v in spec.get("versions") or [] if v.get("served", True)]
        storage = next((v for v in versions if v.get("storage")), versions[-1] if versions else None)
        if storage is not None:
            out.append(Resource(group, storage["name"], spec["names"]["plural"], spec["names"]["kind"]))
    return sorted(out, key=lambda r: r.name)


def _redact(secret: dict) -> dict:
    """A Secret without its values: metadata (and type) only, marked as redacted."""
    meta = {k: v for k, v in (secret.get("metadata") or {}).items() if k != "managedFields"}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items()
                   if k != "kubectl.kubernetes.io/last-applied-configuration"}
    annotations[REDACTED] = "values not read"
    meta["annotations"] = annotations
    out = {"apiVersion": "v1", "kind": "Secret", "metadata": meta}
    if secret.get("type"):
        out["type"] = secret["type"]
    return out


class _ReadError(Exception):
    pass


class _Reader:
    """GET and paged LIST through the official client's ApiClient (auth, TLS and proxies as configured)."""

    def __init__(self, api: Any, client_module: Any) -> None:
        self.api = api
        self.ApiException = client_module.exceptions.ApiException

    def get(self, path: str, query: list[tuple[str, Any]] | None = None, accept: str = "application/json") -> dict:
        try:
            if hasattr(self.api, "param_serialize"):  # client 30 and later
                method, url, headers, body, post = self.api.param_serialize(
                    "GET", path, query_params=query or [], header_params={"Accept": accept},
                    auth_settings=["BearerToken"])
                resp = self.api.call_api(method, url, headers, body, post, _request_timeout=60)
                resp.read()
                if not 200 <= resp.status < 300:
                    raise self.ApiException(http_resp=resp)
            else:
                resp = self.api.call_api(path, "GET", query_params=query or [], header_params={"Accept": accept},
                                         auth_settings=["BearerToken"], _preload_content=False,
                                         _request_timeout=60)[0]
        except self.ApiException as exc:
            reason = {403: "forbidden", 404: "not served", 401: "unauthorized"}.get(exc.status, exc.reason)
            raise _ReadError(f"{exc.status} {reason}") from None
        except Exception as exc:  # urllib3's connection errors have no common public base worth naming
            raise _ReadError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
        return json.loads(resp.data or b"{}")

    def list(self, res: Resource) -> list[dict]:
        items: list[dict] = []
        cont = ""
        while True:
            query: list[tuple[str, Any]] = [("limit", _PAGE)] + ([("continue", cont)] if cont else [])
            page = self.get(res.path, query, _METADATA_ONLY if res.kind == "Secret" else "application/json")
            for item in page.get("items") or []:
                items.append({"apiVersion": res.api_version, "kind": res.kind,
                              **{k: v for k, v in item.items() if k not in ("apiVersion", "kind")}})
            cont = (page.get("metadata") or {}).get("continue") or ""
            if not cont:
                return items


def write_snapshot(snap: Snapshot, path: str | Path) -> Path:
    """Write the snapshot as YAML (``-`` is stdout)."""
    text = yaml.dump(snap.document(), Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
    if str(path) == "-":
        import sys
        sys.stdout.write(text)
        return Path("-")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
