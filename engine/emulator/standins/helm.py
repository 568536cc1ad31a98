"""The emulator's stand-in ``helm`` (v3) for Istio's charts base, istiod and gateway.

Supported: install, upgrade [--install], uninstall, list, status, rollback, repo add|update, version.
Releases are stored as helm 3 stores them (Secrets sh.helm.release.v1.NAME.vN, owner=helm), and
uninstall removes exactly the objects the release's manifest records.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TextIO

import yaml

from engine.emulator.istio_objects import ISTIO_NAMESPACE, injector_configmap_name

from . import mesh
from .common import STANDIN_NOTE, CommandError, Parser, fault_exit, parse_duration, set_path
from .helm_charts import Rendered, chart_name, render
from .helm_release import Release, ReleaseStore, list_time, now_rfc3339, status_time
from .kubeclient import ApiError, ConfigError, Conflict, KubeClient, NotFound

TOOL = "helm"
HELM_VERSION = "v3.13.2"
DESCRIPTION = "The Kubernetes package manager"


def _common(p: argparse.ArgumentParser, root: bool = False) -> argparse.ArgumentParser:
    # Subcommands SUPPRESS their defaults so a flag given before the subcommand is not reset.
    unset = None if root else argparse.SUPPRESS
    p.add_argument("-n", "--namespace", default=unset, help="namespace scope for this request")
    p.add_argument("--kubeconfig", default=unset, help="path to the kubeconfig file")
    p.add_argument("--kube-context", default=unset, help="name of the kubeconfig context to use")
    p.add_argument("--debug", action="store_true", default=False if root else unset, help="enable verbose output")
    p.epilog = p.epilog or STANDIN_NOTE.format(tool=TOOL)
    return p


def _install_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="release name")
    p.add_argument("chart", help="chart reference (istio/base, istio/istiod, istio/gateway)")
    p.add_argument("--set", dest="sets", action="append", default=[], help="set values (a=b,c=d)")
    p.add_argument("--set-string", dest="set_strings", action="append", default=[], help="set STRING values")
    p.add_argument("-f", "--values", dest="value_files", action="append", default=[], help="values YAML file")
    p.add_argument("--create-namespace", action="store_true", help="create the release namespace if absent")
    p.add_argument("--wait", action="store_true", help="wait until the release's Deployments are ready")
    p.add_argument("--wait-for-jobs", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--timeout", default="5m0s", help="time to wait for any individual operation")
    p.add_argument("--atomic", action="store_true", help="undo the change if it fails")
    p.add_argument("--version", dest="chart_version", default=None, help="chart version")
    p.add_argument("--devel", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--skip-crds", action="store_true", help="do not install CRDs")
    p.add_argument("--take-ownership", action="store_true", help="adopt existing objects")
    p.add_argument("--dry-run", action="store_true", help="render only")
    p.add_argument("-o", "--output", default="table", choices=["table", "json", "yaml"], help="output format")
    p.add_argument("--description", default=None, help="custom description")
    p.add_argument("--repo", default=None, help="chart repository URL (charts are built in; accepted and ignored)")


def build_parser() -> Parser:
    """The helm command tree the stand-in implements."""
    root = _common(Parser(prog=TOOL, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter), root=True)
    sub = root.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)
    p = _common(sub.add_parser("install", help="install a chart"))
    _install_flags(p)
    p.add_argument("--replace", action="store_true", help="re-use the name of an uninstalled or failed release")
    p = _common(sub.add_parser("upgrade", help="upgrade a release"))
    _install_flags(p)
    p.add_argument("-i", "--install", action="store_true", help="install if the release does not exist")
    p.add_argument("--reuse-values", action="store_true", help="merge over the last release's values")
    p.add_argument("--reset-values", action="store_true", help=argparse.SUPPRESS)
    for name in ("uninstall", "delete", "del", "un"):
        p = _common(sub.add_parser(name, help="uninstall a release"))
        p.add_argument("names", nargs="+", help="release name(s)")
        p.add_argument("--keep-history", action="store_true", help="keep the release records")
        p.add_argument("--wait", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("--timeout", default="5m0s", help=argparse.SUPPRESS)
        p.set_defaults(command="uninstall")
    for name in ("list", "ls"):
        p = _common(sub.add_parser(name, help="list releases"))
        p.add_argument("-A", "--all-namespaces", action="store_true", help="list across all namespaces")
        p.add_argument("-a", "--all", action="store_true", help="show releases in every state")
        p.add_argument("-o", "--output", default="table", choices=["table", "json", "yaml"], help="format")
        p.add_argument("-q", "--short", action="store_true", help="names only")
        p.add_argument("--filter", default=None, help="substring of the release name")
        p.set_defaults(command="list")
    p = _common(sub.add_parser("status", help="display the status of the named release"))
    p.add_argument("name", help="release name")
    p.add_argument("-o", "--output", default="table", choices=["table", "json", "yaml"], help="format")
    p = _common(sub.add_parser("rollback", help="roll back a release to a previous revision"))
    p.add_argument("name", help="release name")
    p.add_argument("revision", nargs="?", type=int, default=None, help="revision (default: the previous one)")
    p.add_argument("--wait", action="store_true", help="wait until ready")
    p.add_argument("--timeout", default="5m0s", help="time to wait")
    repo = _common(sub.add_parser("repo", help="add, list, remove, update chart repositories"))
    rsub = repo.add_subparsers(dest="rcommand", metavar="<command>", parser_class=Parser)
    p = _common(rsub.add_parser("add", help="add a chart repository"))
    p.add_argument("repo_name")
    p.add_argument("url")
    p.add_argument("--force-update", action="store_true", help=argparse.SUPPRESS)
    p = _common(rsub.add_parser("update", help="update chart repositories"))
    p.add_argument("repos", nargs="*")
    p = _common(sub.add_parser("version", help="print the client version information"))
    p.add_argument("--short", action="store_true", help="print the version number")
    return root


# -- values ----------------------------------------------------------------------------------------

def _split_set(text: str) -> list[str]:
    """'a=b,c=d' -> ['a=b', 'c=d'], honouring '\\,' and {...} list values."""
    parts, cur, depth, i = [], "", 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i:i + 2]
            i += 2
            continue
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
        i += 1
    return [p for p in parts + [cur] if p]


def _helm_scalar(raw: str) -> object:
    # helm's strvals: booleans, null and integers are typed; everything else (1.20 included) stays a string.
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if raw.lower() == "null":
        return None
    if raw.lstrip("-").isdigit() and not (raw.lstrip("-").startswith("0") and len(raw.lstrip("-")) > 1):
        return int(raw)
    if raw.startswith("{") and raw.endswith("}"):
        return [_helm_scalar(v) for v in _split_set(raw[1:-1])]
    return raw.replace("\\,", ",")


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def user_values(value_files: list[str], sets: list[str], set_strings: list[str]) -> dict:
    """-f files, then --set, then --set-string, merged in helm's order."""
    values: dict = {}
    for path in value_files:
        try:
            doc = yaml.safe_load(sys.stdin.read() if path == "-" else Path(path).read_text()) or {}
        except OSError as exc:
            raise CommandError(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
        except yaml.YAMLError as exc:
            raise CommandError(f"failed to parse {path}: {exc}") from None
        values = _merge(values, doc if isinstance(doc, dict) else {})
    for typed, items in ((True, sets), (False, set_strings)):
        for item in items:
            for part in _split_set(item):
                if "=" not in part:
                    raise CommandError(f'failed parsing --set data: key "{part}" has no value')
                key, raw = part.split("=", 1)
                set_path(values, key, _helm_scalar(raw) if typed else raw)
    return values


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


def _print_release(rel: Release, output: str, out: TextIO) -> None:
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
        values = _merge(live_previous.config, values)
    if client.get_or_none("v1", "Namespace", namespace) is None:
        if not args.create_namespace:
            raise CommandError(f'{verb} FAILED: create: failed to create: namespaces "{namespace}" not found')
        if not args.dry_run:
            client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    revision = str(values.get("revision") or "") or "default"
    rendered = render(chart, args.name, namespace, values, args.chart_version, _injector_image(client, revision))
    if args.dry_run:
        out.write("".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in rendered.objects))
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
    _apply_all(client, rendered, args.skip_crds)
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
    _print_release(rel, args.output, out)
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
    wanted = None if args.all else {"deployed", "failed", "pending-install", "pending-upgrade"}
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


def rollback(client: KubeClient, name: str, target: int | None, namespace: str, out: TextIO) -> int:
    """Re-apply an earlier revision's manifest as a new revision."""
    store = ReleaseStore(client)
    hist = store.history(name, namespace)
    if not hist:
        raise CommandError(f"release: not found")
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
    store.save(new)
    store.supersede(current)
    out.write("Rollback was a success! Happy Helming!\n")
    return 0


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Dispatch a parsed helm command line."""
    if args.command == "version":
        err.write(STANDIN_NOTE.format(tool=TOOL) + "\n")
        out.write(f"{HELM_VERSION}+g2a2fb3b\n" if args.short else
                  f'version.BuildInfo{{Version:"{HELM_VERSION}", GitCommit:"playbook-emulator", '
                  'GitTreeState:"clean", GoVersion:"go1.21.4"}\n')
        return 0
    if args.command == "repo":
        return _repo(args, out)
    try:
        client = KubeClient.from_kubeconfig(args.kubeconfig, args.kube_context)
    except ConfigError as exc:
        raise CommandError(f"Kubernetes cluster unreachable: {exc}") from None
    namespace = args.namespace or client.conn.namespace
    if args.command in ("install", "upgrade"):
        return install_or_upgrade(client, args, namespace, out)
    if args.command == "uninstall":
        return uninstall(client, args.names, namespace, args.keep_history, out)
    if args.command == "list":
        return list_releases(client, args, None if args.all_namespaces else namespace, out)
    if args.command == "status":
        rel = ReleaseStore(client).latest(args.name, namespace)
        if rel is None:
            raise CommandError("release: not found")
        _print_release(rel, args.output, out)
        return 0
    if args.command == "rollback":
        return rollback(client, args.name, args.revision, namespace, out)
    raise CommandError(f'unknown command "{args.command}" for "helm"')


def _repo(args: argparse.Namespace, out: TextIO) -> int:
    # Charts are built in, so repositories are accepted and nothing is fetched.
    if args.rcommand == "add":
        out.write(f'"{args.repo_name}" has been added to your repositories\n')
        return 0
    if args.rcommand == "update":
        out.write("Hang tight while we grab the latest from your chart repositories...\n")
        for name in args.repos or ["istio"]:
            out.write(f'...Successfully got an update from the "{name}" chart repository\n')
        out.write("Update Complete. ⎈Happy Helming!⎈\n")
        return 0
    raise CommandError('unknown command "" for "helm repo"')


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one helm command line; returns its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = out or sys.stdout, err or sys.stderr
    code = fault_exit(TOOL, argv, err, ("--kubeconfig",), ("--kube-context",))
    if code is not None:
        return code
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help(out)
            return 0
        return run(args, out, err)
    except CommandError as exc:
        err.write(f"Error: {exc}\n")
        return exc.code
    except ApiError as exc:
        err.write(f"Error: {exc.message}\n")
        return 1
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
