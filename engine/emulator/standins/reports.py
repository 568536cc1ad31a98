"""The read-only istioctl commands: version, proxy-status and x wait."""
from __future__ import annotations

import hashlib
import json
import re
import time
from typing import TextIO

import yaml

from engine.emulator.istio_objects import ISTIO_NAMESPACE

from . import mesh
from .common import CommandError, load_faults, table
from .iop import client_version
from .kubeclient import KubeClient

# -- version ---------------------------------------------------------------------------------------

def version(client: KubeClient | None, *, remote: bool, output: str, out: TextIO, err: TextIO) -> int:
    """Client version, control-plane versions (per revision when they differ), data-plane counts."""
    ours = client_version()
    if not remote or client is None:
        if output == "json":
            out.write(json.dumps({"clientVersion": _build_info(ours)}, indent=2) + "\n")
        else:
            out.write(f"client version: {ours}\n")
        return 0
    if output not in ("json", "yaml"):
        out.write(f"client version: {ours}\n")  # printed before the cluster is asked, as istioctl does
    live = sorted((r for r in mesh.revisions(client) if r.ready_pods), key=lambda r: (_version_key(r.version), r.name))
    attached = {r.name for r in live}
    proxies = [p for p in mesh.proxies(client) if p.revision in attached]
    if output in ("json", "yaml"):
        doc = {"clientVersion": _build_info(ours),
               "meshVersion": [{"Component": "istiod", "Revision": r.name, "Info": _build_info(r.version)}
                               for r in live],
               "dataPlaneVersion": [{"ID": p.name, "IstioVersion": p.version} for p in proxies]}
        out.write(json.dumps(doc, indent=2) + "\n" if output == "json" else yaml.safe_dump(doc, sort_keys=False))
        return 0
    if not live:
        err.write(f'no ready Istio pods in "{ISTIO_NAMESPACE}"\n')
    elif len({r.version for r in live}) == 1:
        out.write(f"control plane version: {live[0].version}\n")
    else:
        for rev in live:
            out.write(f"{rev.deployment} version: {rev.version}\n")
    out.write(f"data plane version: {render_proxy_versions([p.version for p in proxies])}\n")
    return 0


def _version_key(ver: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.-]", ver))


def _build_info(ver: str) -> dict:
    return {"version": ver, "revision": "playbook-emulator", "golang_version": "", "status": "Clean",
            "tag": ver}


def render_proxy_versions(versions: list[str]) -> str:
    """'1.19.3 (4 proxies), 1.20.0 (2 proxies)', or 'none' — istioctl's data-plane summary."""
    if not versions:
        return "none"
    counts: dict[str, int] = {}
    for ver in versions:
        counts[ver] = counts.get(ver, 0) + 1
    return ", ".join(f"{v} ({counts[v]} proxies)" for v in sorted(counts))


# -- proxy-status ----------------------------------------------------------------------------------

XDS_TYPES = ("CDS", "LDS", "EDS", "RDS")


def _stale_types(faults: dict, proxy: mesh.Proxy) -> set[str]:
    """xDS types a ``stale_proxies`` fault marks STALE for this proxy."""
    stale: set[str] = set()
    for entry in faults.get("stale_proxies") or []:
        if isinstance(entry, str):
            entry = {"revision": entry}
        if not isinstance(entry, dict):
            continue
        if entry.get("revision") and entry["revision"] != proxy.revision:
            continue
        if entry.get("namespace") and entry["namespace"] != proxy.namespace:
            continue
        if entry.get("pod") and not proxy.pod.startswith(str(entry["pod"])):
            continue
        stale |= {t.upper() for t in entry.get("types") or XDS_TYPES}
    return stale


def _assigned_istiod(proxy: mesh.Proxy, pods: tuple[str, ...]) -> str:
    # A stable choice among the revision's ready istiod pods, like a proxy's sticky xDS connection.
    digest = int(hashlib.sha256(proxy.name.encode()).hexdigest(), 16)
    return sorted(pods)[digest % len(pods)]


def proxy_status(client: KubeClient, *, target: str | None, namespace: str | None, revision: str | None,
                 out: TextIO) -> int:
    """One row per proxy connected to a ready istiod; proxies of a gone istiod are omitted, as istioctl does."""
    live = {r.name: r for r in mesh.revisions(client) if r.ready_pods}
    if not live:
        raise CommandError(f'unable to find any Istiod instances in namespace "{ISTIO_NAMESPACE}"')
    if revision and revision not in live:
        raise CommandError(f'unable to find any Istiod instances for revision "{revision}"')
    faults = load_faults(client)
    if target:
        return _proxy_diff(client, target, namespace, live, faults, out)
    rows = [["NAME", "CLUSTER", *XDS_TYPES, "ECDS", "ISTIOD", "VERSION"]]
    for proxy in mesh.proxies(client, namespace):
        rev = live.get(proxy.revision)
        if rev is None or (revision and proxy.revision != revision):
            continue
        stale = _stale_types(faults, proxy)
        states = ["STALE" if t in stale else "SYNCED" for t in XDS_TYPES]
        rows.append([proxy.name, "Kubernetes", *states, "NOT SENT", _assigned_istiod(proxy, rev.ready_pods),
                     proxy.version])
    out.write(table(rows, padding=5))
    return 0


def _proxy_diff(client: KubeClient, target: str, namespace: str | None, live: dict, faults: dict,
                out: TextIO) -> int:
    pod, _, ns = target.partition(".")
    ns = ns or namespace or client.conn.namespace
    proxy = next((p for p in mesh.proxies(client, ns) if p.pod == pod), None)
    if proxy is None or proxy.revision not in live:
        raise CommandError(f"unable to retrieve Pod: pods \"{pod}\" not found" if proxy is None else
                           f"no proxy with ID {pod}.{ns} is connected to any Istiod instance")
    stale = _stale_types(faults, proxy)
    stamp = time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime())
    out.write(("Clusters Don't Match\n" if "CDS" in stale else "Clusters Match\n")
              + ("Listeners Don't Match\n" if "LDS" in stale else "Listeners Match\n")
              + (f"Routes Don't Match (RDS last loaded at {stamp})\n" if "RDS" in stale
                 else f"Routes Match (RDS last loaded at {stamp})\n"))
    return 0


# -- x wait ---------------------------------------------------------------------------------------

_WAIT_TYPES = {
    "virtualservice": ("networking.istio.io/v1alpha3", "VirtualService"),
    "destinationrule": ("networking.istio.io/v1alpha3", "DestinationRule"),
    "gateway": ("networking.istio.io/v1alpha3", "Gateway"),
    "serviceentry": ("networking.istio.io/v1alpha3", "ServiceEntry"),
    "sidecar": ("networking.istio.io/v1alpha3", "Sidecar"),
    "envoyfilter": ("networking.istio.io/v1alpha3", "EnvoyFilter"),
    "peerauthentication": ("security.istio.io/v1beta1", "PeerAuthentication"),
    "authorizationpolicy": ("security.istio.io/v1beta1", "AuthorizationPolicy"),
    "requestauthentication": ("security.istio.io/v1beta1", "RequestAuthentication"),
}


def wait_target(resource: list[str], default_namespace: str) -> tuple[str, str, str, str] | None:
    """``virtualservice foo.default`` -> (apiVersion, kind, namespace, name); None for the revision-only form."""
    if not resource:
        return None
    if len(resource) != 2:
        raise CommandError(f"accepts 2 arg(s), received {len(resource)}")
    typ = resource[0].lower().replace("-", "").rstrip("s") if resource[0].lower() != "vs" else "virtualservice"
    if typ not in _WAIT_TYPES:
        raise CommandError(f"type {resource[0]} is not recognized")
    name, _, namespace = resource[1].partition(".")
    return (*_WAIT_TYPES[typ], namespace or default_namespace, name)


def wait(client: KubeClient, *, condition: str, revision: str | None, resource: list[str], timeout: float,
         out: TextIO) -> int:
    """Wait until the revision's istiod is Ready (and the resource exists); ``--for=delete``: until it is gone.

    The revision-only form (no resource) is the emulator's extension the reference guide uses.
    """
    target = wait_target(resource, client.conn.namespace)
    label = "/".join(target) if target else f"revision {revision or 'default'}"
    rev_name = mesh.resolve_revision(revision or "default", mesh.tags(client))
    deadline = time.monotonic() + timeout
    while True:
        obj = client.get_or_none(*target[:2], target[3], target[2]) if target else None
        if condition == "delete":
            done = (obj is None) if target else mesh.find_revision(client, rev_name) is None
        else:
            rev = mesh.find_revision(client, rev_name)
            done = rev is not None and rev.ready and (obj is not None or target is None)
        if done:
            break
        if time.monotonic() >= deadline:
            raise CommandError(f"timeout expired before resource {label} became effective on all sidecars")
        time.sleep(0.1)
    if condition != "delete":
        attached = len([p for p in mesh.proxies(client) if p.revision == rev_name])
        out.write(f"Resource {label} present on {attached} out of {attached} sidecars\n")
    return 0
