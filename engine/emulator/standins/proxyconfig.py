"""``istioctl proxy-config`` and ``istioctl authn tls-check``, answered from the emulated cluster's objects."""
from __future__ import annotations

import hashlib
import json
import time
from typing import TextIO

from . import mesh
from .common import CommandError, table
from .kubeclient import KubeClient


def resolve_pod(client: KubeClient, ref: str, namespace: str) -> dict:
    """'pod', 'pod.ns', 'deploy/name' or 'deployment/name[.ns]' -> a pod object (a Ready one for deployments)."""
    kind, _, rest = ref.rpartition("/")
    name, _, ns = rest.partition(".")
    ns = ns or namespace
    if kind in ("deploy", "deployment", "deployments"):
        dep = client.get_or_none("apps/v1", "Deployment", name, ns)
        if dep is None:
            raise CommandError(f'deployments.apps "{name}" not found')
        ready = mesh.deployment_ready_pods(client, dep)
        if not ready:
            raise CommandError(f"no running pods found for deployment {name} in namespace {ns}")
        return client.get("v1", "Pod", ready[0], ns)
    if kind not in ("", "pod", "pods", "po"):
        raise CommandError(f"unsupported resource type {kind!r}: use a pod name or deployment/NAME")
    pod = client.get_or_none("v1", "Pod", name, ns)
    if pod is None:
        raise CommandError(f'pods "{name}" not found')
    return pod


def _require_proxy(pod: dict) -> mesh.Proxy:
    proxy = mesh.proxy_of(pod)
    if proxy is None:
        meta = pod["metadata"]
        raise CommandError(f"failed to execute command on sidecar: error execing into {meta['name']}/"
                           f"{meta.get('namespace')} istio-proxy container: container istio-proxy is not "
                           f"valid for pod {meta['name']}")
    return proxy


def _service_ports(client: KubeClient) -> list[tuple[str, str, str, int]]:
    rows = []
    for svc in client.list("v1", "Service"):
        meta, spec = svc["metadata"], svc.get("spec") or {}
        for port in spec.get("ports") or []:
            rows.append((meta["name"], meta.get("namespace", ""), spec.get("clusterIP") or "0.0.0.0",
                         int(port.get("port", 0))))
    return sorted(rows)


def proxy_config(client: KubeClient, what: str, ref: str, namespace: str, output: str, out: TextIO) -> int:
    """Print the proxy's secrets, listeners, routes or clusters in istioctl's table shapes."""
    pod = resolve_pod(client, ref, namespace)
    proxy = _require_proxy(pod)
    what = {"secrets": "secret", "listener": "listeners", "route": "routes", "cluster": "clusters",
            "endpoint": "endpoints"}.get(what, what)
    if what == "secret":
        rows = _secret_rows(pod, proxy)
    elif what == "listeners":
        rows = [["ADDRESS", "PORT", "MATCH", "DESTINATION"], ["0.0.0.0", "15001", "ALL", "PassthroughCluster"],
                ["0.0.0.0", "15006", "Addr: *:15006", "Non-HTTP/Non-TCP"]]
        rows += [[ip, str(port), "ALL", f"Cluster: outbound|{port}||{name}.{ns}.svc.cluster.local"]
                 for name, ns, ip, port in _service_ports(client)]
    elif what == "routes":
        rows = [["NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"]]
        rows += [[str(port), f"{name}.{ns}", "/*", ""] for name, ns, _, port in _service_ports(client)]
        rows.append(["", "*", "/healthz/ready*", ""])
    elif what in ("clusters", "endpoints", "all"):
        rows = [["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"]]
        rows += [[f"{name}.{ns}.svc.cluster.local", str(port), "-", "outbound", "EDS", ""]
                 for name, ns, _, port in _service_ports(client)]
    else:
        raise CommandError(f'unknown command "{what}" for "istioctl proxy-config"')
    if output == "json":
        header, *body = rows
        out.write(json.dumps([dict(zip(header, r)) for r in body], indent=2) + "\n")
    else:
        out.write(table(rows, padding=5 if what == "secret" else 1))
    return 0


def _secret_rows(pod: dict, proxy: mesh.Proxy) -> list[list[str]]:
    created = pod["metadata"].get("creationTimestamp") or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    start = time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")
    epoch = time.mktime(start) - time.timezone
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    serial = hashlib.md5(f"{proxy.name}/{proxy.revision}".encode()).hexdigest()
    root = hashlib.md5(b"emulated-root-ca").hexdigest()
    return [["RESOURCE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER", "NOT AFTER", "NOT BEFORE"],
            ["default", "Cert Chain", "ACTIVE", "true", serial, time.strftime(fmt, time.gmtime(epoch + 86400)),
             created],
            ["ROOTCA", "CA", "ACTIVE", "true", root, time.strftime(fmt, time.gmtime(epoch + 10 * 365 * 86400)),
             created]]


def tls_check(client: KubeClient, ref: str, namespace: str, out: TextIO, err: TextIO) -> int:
    """The pre-1.10 ``authn tls-check`` table: every service the proxy can reach, mTLS in both directions."""
    pod = resolve_pod(client, ref, namespace)
    _require_proxy(pod)
    err.write("Note: 'authn tls-check' was removed from istioctl in Istio 1.10; this emulator stand-in "
              "answers it from the emulated cluster.\n")
    rows = [["HOST:PORT", "STATUS", "SERVER", "CLIENT", "AUTHN POLICY", "DESTINATION RULE"]]
    rows += [[f"{name}.{ns}.svc.cluster.local:{port}", "OK", "STRICT", "ISTIO_MUTUAL", "/default", "-"]
             for name, ns, _, port in _service_ports(client)]
    out.write(table(rows, padding=5))
    return 0
