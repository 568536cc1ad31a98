"""The emulator's stand-in ``helm`` (v3) for Istio's charts base, istiod and gateway.

Supported: install, upgrade [--install], uninstall, list, status, rollback, repo add|update, version.
Releases are stored as helm 3 stores them (Secrets sh.helm.release.v1.NAME.vN, owner=helm), and
uninstall removes exactly the objects the release's manifest records.
"""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from .common import STANDIN_NOTE, CommandError, Parser, parse_duration, run_tool
from .helm_ops import get_release, install_or_upgrade, list_releases, print_release, rollback, uninstall
from .helm_release import ReleaseStore
from .kubeclient import ConfigError, KubeClient

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
    get = _common(sub.add_parser("get", help="download extended information of a named release"))
    gsub = get.add_subparsers(dest="gcommand", metavar="<command>", parser_class=Parser)
    for name in ("values", "manifest"):
        p = _common(gsub.add_parser(name, help=f"download the {name} of a named release"))
        p.add_argument("name", help="release name")
        p.add_argument("--revision", type=int, default=None, help="a revision of the release")
        if name == "values":
            p.add_argument("-o", "--output", default="table", choices=["table", "json", "yaml"], help="format")
            p.add_argument("-a", "--all", action="store_true", help="accepted; the user-supplied values are shown")
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
        print_release(rel, args.output, out)
        return 0
    if args.command == "get":
        return get_release(client, args.gcommand, args.name, namespace, args.revision,
                           getattr(args, "output", "table"), out)
    if args.command == "rollback":
        return rollback(client, args.name, args.revision, namespace, out,
                        parse_duration(args.timeout) if args.wait else None)
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
    return run_tool(TOOL, argv, out, err, build_parser, run, ("--kubeconfig",), ("--kube-context",))


if __name__ == "__main__":
    sys.exit(main())
