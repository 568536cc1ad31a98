"""What the helm stand-in does to the cluster: install/upgrade with helm's ownership and history rules,
uninstall of exactly a release's manifest, list, status and rollback.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import TextIO

import yaml

from engine.emulator.istio_objects import ISTIO_NAMESPACE, injector_configmap_name

from . import mesh
from .common import CommandError, parse_duration
from .helm_charts import Rendered, chart_name, render
from .helm_release import Release, ReleaseStore, list_time, status_time
from .helm_values import merge_values, user_values
from .kubeclient import ApiError, Conflict, KubeClient, NotFound

# -- cluster helpers -------------------------------------------------------------------------------

def _owned_by(obj: dict, name: str, namespace: str) -> bool:
    ann = obj["metadata"].get("annotations") or {}
    return (ann.get("meta.helm.sh/release-name") == name and ann.get("meta.helm.sh/release-namespace") == namespace)


def _ownership_error(obj: dict, name: str, namespace: str, verb: str) -> CommandError:
    meta = obj["metadata"]
    labels, ann = meta.get("labels") or {}, meta.get("annotations") or {}
    problems = []
    if labels.get("app.kubernetes.io/managed-by") != "Helm":
        problems.append('label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"')
    for key, want in (("meta.helm.sh/release-name", name), ("meta.helm.sh/release-namespace", namespace)):
        if key not in ann:
            problems.append(f'annotation validation error: missing key "{key}": must be set to "{want}"')
        elif ann[key] != want:
            problems.append(f'annotation validation error: key "{key}" must equal "{want}": current value is '
                            f'"{ann[key]}"')
    return CommandError(f"{verb} FAILED: rendered manifests contain a resource that already exists. Unable to "
                        f'continue with {"update" if verb == "UPGRADE" else "install"}: {obj["kind"]} "{meta["name"]}" in namespace '
                        f'"{meta.get("namespace", "")}" exists and cannot be imported into the current release: '
                        f"invalid ownership metadata; {'; '.join(problems)}")


def _check_ownership(client: KubeClient, objs: list[dict], name: str, namespace: str, verb: str,
                     take: bool) -> None:
    for obj in objs:
        meta = obj["metadata"]
        live = client.get_or_none(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if live is not None and not _owned_by(live, name, namespace) and not take:
            live.setdefault("kind", obj["kind"])
            raise _ownership_error(live, name, namespace, verb)


def _apply_all(client: KubeClient, rendered: Rendered, skip_crds: bool) -> None:
    if not skip_crds:
        for crd in rendered.crds:
            try:
                client.create(crd)  # helm leaves CRDs from crds/ alone when they exist
            except (Conflict, NotFound):
                pass
    for obj in rendered.objects:
        client.apply(obj)


def _delete_objects(client: KubeClient, objs: list[dict]) -> None:
    for obj in reversed(objs):
        meta = obj["metadata"]
        client.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))


def _wait(client: KubeClient, objs: list[dict], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    deps = [o for o in objs if o["kind"] == "Deployment"]
    while True:
        live = [client.get_or_none("apps/v1", "Deployment", d["metadata"]["name"], d["metadata"]["namespace"])
                for d in deps]
        if all(d is not None and mesh.deployment_ready(client, d) for d in live):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def _injector_image(client: KubeClient, revision: str) -> str | None:
    cm = client.get_or_none("v1", "ConfigMap", injector_configmap_name(revision), ISTIO_NAMESPACE)
    try:
        glob = json.loads(((cm or {}).get("data") or {}).get("values") or "{}").get("global") or {}
    except ValueError:
        return None
    if not glob.get("tag"):
        return None
    return f"{glob.get('hub', 'docker.io/istio')}/{(glob.get('proxy') or {}).get('image', 'proxyv2')}:{glob['tag']}"


# -- commands --------------------------------------------------------------------------------------

def _status_block(rel: Release, out: TextIO) -> None:
    out.write(f"NAME: {rel.name}\nLAST DEPLOYED: {status_time(rel.last_deployed)}\nNAMESPACE: {rel.namespace}\n"
              f"STATUS: {rel.status}\nREVISION: {rel.version}\nTEST SUITE: None\n")
    if rel.notes:
        out.write("NOTES:\n" + rel.notes)


def print_release(rel: Release, output: str, out: TextIO) -> None:
    """A release as ``helm status`` prints it (or its JSON/YAML document)."""
    if output == "json":
        out.write(json.dumps(rel.to_json()) + "\n")
    elif output == "yaml":
        out.write(yaml.safe_dump(rel.to_json(), sort_keys=False))
    else:
        _status_block(rel, out)


def install_or_upgrade(client: KubeClient, args: argparse.Namespace, namespace: str, out: TextIO) -> int:
    """``helm install`` and ``helm upgrade [--install]``."""
    store = ReleaseStore(client)
    upgrading = args.command == "upgrade"
    history = store.history(args.name, namespace)
    latest = history[-1] if history else None
    live_previous = next((r for r in reversed(history) if r.status == "deployed"), None) if upgrading else None
    if not upgrading and latest and not (args.replace and latest.status in ("uninstalled", "failed")):
        raise CommandError("INSTALLATION FAILED: cannot re-use a name that is still in use")
    if upgrading and live_previous is None and (latest is not None or not args.install):
        raise CommandError(f'UPGRADE FAILED: "{args.name}" has no deployed releases')
    verb = "UPGRADE" if live_previous else "INSTALLATION"
    chart = chart_name(args.chart)
    values = user_values(args.value_files, args.sets, args.set_strings)
    if upgrading and args.reuse_values and live_previous:
        values = merge_values(live_previous.config, values)
    if client.get_or_none("v1", "Namespace", namespace) is None:
        if not args.create_namespace:
            raise CommandError(f'{verb} FAILED: create: failed to create: namespaces "{namespace}" not found')
        if not args.dry_run:
            client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    revision = str(values.get("revision") or "") or "default"
    rendered = render(chart, args.name, namespace, values, args.chart_version, _injector_image(client, revision))
    if args.dry_run:  # like helm: the release it would make, its manifest, nothing applied
        draft = Release(args.name, namespace, (latest.version + 1) if latest else 1, chart, rendered.version,
                        rendered.version, "pending-upgrade" if live_previous else "pending-install", values,
                        rendered.objects, notes="")
        _status_block(draft, out)
        out.write("HOOKS:\nMANIFEST:\n" + draft.to_json()["manifest"] + "\nNOTES:\n" + rendered.notes)
        return 0
    _check_ownership(client, rendered.objects, args.name, namespace, verb, args.take_ownership)
    version = (latest.version + 1) if latest else 1
    rel = Release(args.name, namespace, version, chart, rendered.version, rendered.version, "pending-install"
                  if not live_previous else "pending-upgrade", values, rendered.objects, notes=rendered.notes,
                  description=args.description or ("Upgrade complete" if live_previous else "Install complete"))
    if live_previous:
        rel.first_deployed = live_previous.first_deployed
    if upgrading and not live_previous:
        out.write(f'Release "{args.name}" does not exist. Installing it now.\n')
    store.save(rel)
    try:
        _apply_all(client, rendered, args.skip_crds)
    except ApiError as exc:
        rel.status, rel.description = "failed", f"Release failed: {exc.message}"
        store.save(rel)
        raise CommandError(f"{verb} FAILED: {exc.message}") from None
    if live_previous:
        keep = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
        _delete_objects(client, [o for o in live_previous.manifest if (o["kind"], o["metadata"]["name"]) not in keep])
    if (args.wait or args.atomic) and not _wait(client, rendered.objects, parse_duration(args.timeout)):
        return _failed(client, store, rel, live_previous, args, verb)
    rel.status = "deployed"
    store.save(rel)
    if live_previous:
        store.supersede(live_previous)
        if args.output == "table":
            out.write(f'Release "{args.name}" has been upgraded. Happy Helming!\n')
    print_release(rel, args.output, out)
    return 0


def _failed(client: KubeClient, store: ReleaseStore, rel: Release, previous: Release | None,
            args: argparse.Namespace, verb: str) -> int:
    rel.status, rel.description = "failed", "Release failed: context deadline exceeded"
    store.save(rel)
    if not args.atomic:
        raise CommandError(f"{verb} FAILED: context deadline exceeded")
    if previous is None:
        _delete_objects(client, rel.manifest)
        store.delete_all(rel.name, rel.namespace)
        raise CommandError(f"{verb} FAILED: release {rel.name} failed, and has been uninstalled due to atomic "
                           "being set: context deadline exceeded")
    for obj in previous.manifest:
        client.apply(obj)
    restored = Release(rel.name, rel.namespace, rel.version + 1, previous.chart, previous.chart_version,
                       previous.app_version, "deployed", previous.config, previous.manifest,
                       previous.first_deployed, description=f"Rollback to {previous.version}", notes=previous.notes)
    store.save(restored)
    raise CommandError(f"{verb} FAILED: release {rel.name} failed, and has been rolled back due to atomic being "
                       "set: context deadline exceeded")


def uninstall(client: KubeClient, names: list[str], namespace: str, keep_history: bool, out: TextIO) -> int:
    """Delete exactly what each release's manifest records, then its records."""
    store = ReleaseStore(client)
    for name in names:
        rel = store.latest(name, namespace)
        if rel is None or rel.status == "uninstalled":
            raise CommandError(f"uninstall: Release not loaded: {name}: release: not found")
        _delete_objects(client, rel.manifest)
        if keep_history:
            rel.status, rel.description = "uninstalled", "Uninstallation complete"
            store.save(rel)
        else:
            store.delete_all(name, namespace)
        out.write(f'release "{name}" uninstalled\n')
    return 0


def list_releases(client: KubeClient, args: argparse.Namespace, namespace: str | None, out: TextIO) -> int:
    """NAME NAMESPACE REVISION UPDATED STATUS CHART APP VERSION, tab-separated like helm's table."""
    wanted = None if args.all else {"deployed", "failed"}  # helm's default state mask
    rels = [r for r in ReleaseStore(client).all_latest(namespace)
            if (wanted is None or r.status in wanted) and (not args.filter or args.filter in r.name)]
    if args.short:
        out.write("".join(r.name + "\n" for r in rels))
        return 0
    docs = [{"name": r.name, "namespace": r.namespace, "revision": str(r.version),
             "updated": list_time(r.last_deployed), "status": r.status,
             "chart": f"{r.chart}-{r.chart_version}", "app_version": r.app_version} for r in rels]
    if args.output == "json":
        out.write(json.dumps(docs) + "\n")
        return 0
    if args.output == "yaml":
        out.write(yaml.safe_dump(docs, sort_keys=False))
        return 0
    rows = [["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]]
    rows += [[d["name"], d["namespace"], d["revision"], d["updated"], d["status"], d["chart"], d["app_version"]]
             for d in docs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out.write("".join("\t".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n" for r in rows))
    return 0


def rollback(client: KubeClient, name: str, target: int | None, namespace: str, out: TextIO,
             wait_timeout: float | None = None) -> int:
    """Re-apply an earlier revision's manifest as a new revision (waiting for readiness when asked)."""
    store = ReleaseStore(client)
    hist = store.history(name, namespace)
    if not hist:
        raise CommandError("release: not found")
    current = hist[-1]
    target = target or (current.version - 1)
    source = next((r for r in hist if r.version == target), None)
    if source is None or target < 1:
        raise CommandError(f"release has no {target} version")
    keep = {(o["kind"], o["metadata"]["name"]) for o in source.manifest}
    for obj in source.manifest:
        client.apply(obj)
    _delete_objects(client, [o for o in current.manifest if (o["kind"], o["metadata"]["name"]) not in keep])
    new = Release(name, namespace, current.version + 1, source.chart, source.chart_version, source.app_version,
                  "deployed", source.config, source.manifest, source.first_deployed,
                  description=f"Rollback to {target}", notes=source.notes)
    if wait_timeout is not None and not _wait(client, source.manifest, wait_timeout):
        new.status, new.description = "failed", "Release failed: context deadline exceeded"
        store.save(new)
        raise CommandError("context deadline exceeded")
    store.save(new)
    store.supersede(current)
    out.write("Rollback was a success! Happy Helming!\n")
    return 0


def get_release(client: KubeClient, what: str, name: str, namespace: str, revision: int | None, output: str,
                out: TextIO) -> int:
    """``helm get values|manifest``: a release's user-supplied values, or the objects it recorded."""
    hist = ReleaseStore(client).history(name, namespace)
    rel = next((r for r in reversed(hist) if revision is None or r.version == revision), None)
    if rel is None:
        raise CommandError("release: not found")
    if what == "manifest":
        out.write(rel.to_json()["manifest"])
    elif output == "json":
        out.write(json.dumps(rel.config) + "\n")
    elif output == "yaml":
        out.write(yaml.safe_dump(rel.config, sort_keys=False))
    else:
        out.write("USER-SUPPLIED VALUES:\n" + (yaml.safe_dump(rel.config, sort_keys=False) if rel.config else "null\n"))
    return 0
