"""The emulator's stand-in ``istioctl``: argv parsing and dispatch to the command modules.

Supported: install, uninstall, x precheck, version, proxy-status, analyze, tag set|list|remove,
x wait (also ``experimental``), proxy-config, authn tls-check. Errors print ``Error: ...`` on stderr and
exit 1 (analyze: 79), like cobra-based istioctl; faults from the emulator's ConfigMap fail matching commands.
"""
from __future__ import annotations

import argparse
import sys
from typing import TextIO

from . import analyze, install, proxyconfig, reports, tags
from .common import STANDIN_NOTE, CommandError, Parser, parse_duration, run_tool
from .iop import build_plan
from .kubeclient import ConfigError, KubeClient

TOOL = "istioctl"
DESCRIPTION = ("Istio configuration command line utility for service operators to debug and diagnose their "
               "Istio mesh.")


def _common(p: argparse.ArgumentParser, root: bool = False) -> argparse.ArgumentParser:
    # Subcommands SUPPRESS their defaults so a flag given before the subcommand is not reset.
    unset = None if root else argparse.SUPPRESS
    p.add_argument("-c", "--kubeconfig", default=unset, help="Kubernetes configuration file")
    p.add_argument("--context", default=unset, help="Kubernetes configuration context")
    p.add_argument("-i", "--istioNamespace", default="istio-system" if root else unset, help="Istio system namespace")
    p.add_argument("--vklog", default=unset, help=argparse.SUPPRESS)
    p.epilog = p.epilog or STANDIN_NOTE.format(tool=TOOL)
    return p


def build_parser() -> Parser:
    """The whole istioctl command tree."""
    root = _common(Parser(prog=TOOL, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter), root=True)
    sub = root.add_subparsers(dest="command", metavar="<command>", parser_class=Parser)

    p = _common(sub.add_parser("install", help="Applies an Istio manifest, installing or reconfiguring Istio"))
    p.add_argument("-f", "--filename", action="append", default=[], help="IstioOperator manifest file")
    p.add_argument("-r", "--revision", default=None, help="Target control plane revision")
    p.add_argument("-s", "--set", dest="sets", action="append", default=[], help="path=value override")
    p.add_argument("-y", "--skip-confirmation", dest="yes", action="store_true", help="Do not ask")
    p.add_argument("--readiness-timeout", default="300s", help="How long to wait for readiness (default 5m0s)")
    p.add_argument("--force", action="store_true", help="Proceed even with validation errors")
    p.add_argument("--dry-run", action="store_true", help="Print what would be done")
    p.add_argument("-d", "--manifests", default=None, help=argparse.SUPPRESS)
    p.add_argument("--verify", action="store_true", help=argparse.SUPPRESS)

    p = _common(sub.add_parser("uninstall", help="Uninstall Istio from a cluster"))
    p.add_argument("-r", "--revision", default=None, help="Target control plane revision")
    p.add_argument("-f", "--filename", action="append", default=[], help="IstioOperator manifest file")
    p.add_argument("-s", "--set", dest="sets", action="append", default=[], help="path=value override")
    p.add_argument("--purge", action="store_true", help="Remove all Istio resources")
    p.add_argument("-y", "--skip-confirmation", dest="yes", action="store_true", help="Do not ask")
    p.add_argument("--dry-run", action="store_true", help=argparse.SUPPRESS)

    p = _common(sub.add_parser("version", help="Prints out build version information"))
    p.add_argument("-s", "--short", nargs="?", const="true", default="true", help="Short form (the default)")
    p.add_argument("-o", "--output", default="", choices=["", "json", "yaml"], help="One of 'yaml' or 'json'")
    p.add_argument("--remote", nargs="?", const="true", default="true", help="Use --remote=false to skip the cluster")
    p.add_argument("-r", "--revision", default=None, help=argparse.SUPPRESS)

    for name in ("proxy-status", "ps"):
        p = _common(sub.add_parser(name, help="Retrieves the synchronization status of each Envoy in the mesh"))
        p.add_argument("target", nargs="?", default=None, help="pod-name[.namespace]")
        p.add_argument("-n", "--namespace", default=None, help="Namespace")
        p.add_argument("-r", "--revision", default=None, help="Control plane revision")
        p.set_defaults(command="proxy-status")

    p = _common(sub.add_parser("analyze", help="Analyze Istio configuration and print validation messages"))
    p.add_argument("files", nargs="*", help="Local files to analyze (accepted, not analyzed by the emulator)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="Analyze all namespaces")
    p.add_argument("-n", "--namespace", default=None, help="Namespace to analyze")
    p.add_argument("-o", "--output", default="log", choices=["log", "json", "yaml"], help="Output format")
    p.add_argument("--failure-threshold", default="Error", choices=list(analyze.LEVELS), help="Exit non-zero at")
    p.add_argument("--output-threshold", default="Info", choices=list(analyze.LEVELS), help="Print from")
    p.add_argument("--use-kube", nargs="?", const="true", default="true", help=argparse.SUPPRESS)
    p.add_argument("--color", nargs="?", const="true", default="false", help=argparse.SUPPRESS)
    p.add_argument("-R", "--recursive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("-r", "--revision", default=None, help="Control plane revision (accepted; all are analyzed)")
    p.add_argument("-S", "--suppress", action="append", default=[], help="Suppress messages: 'CODE=Kind name'")
    p.add_argument("--timeout", default="30s", help=argparse.SUPPRESS)

    _tag_parser(sub)
    for name in ("x", "experimental"):
        x = _common(sub.add_parser(name, help="Experimental commands"))
        xsub = x.add_subparsers(dest="xcommand", metavar="<command>", parser_class=Parser)
        p = _common(xsub.add_parser("precheck", help="Check whether Istio can safely be installed or upgraded"))
        p.add_argument("-r", "--revision", default=None, help="Revision to check")
        p.add_argument("-f", "--filename", action="append", default=[], help=argparse.SUPPRESS)
        p.add_argument("--skip-controlplane", action="store_true", help=argparse.SUPPRESS)
        p.add_argument("-n", "--namespace", default=None, help=argparse.SUPPRESS)
        p = _common(xsub.add_parser("wait", help="Wait for an Istio resource (or revision) to be distributed"))
        p.add_argument("resource", nargs="*", help="<type> <name>[.<namespace>]")
        p.add_argument("--for", dest="condition", default="distribution", choices=["distribution", "delete"])
        p.add_argument("-r", "--revision", default=None, help="Control plane revision")
        p.add_argument("--timeout", default="30s", help="How long to wait (default 30s)")
        p.add_argument("--threshold", default="1", help=argparse.SUPPRESS)
        p.add_argument("--resource-version", default=None, help=argparse.SUPPRESS)
        _tag_parser(xsub)
        x.set_defaults(command="x")

    for name in ("proxy-config", "pc"):
        p = _common(sub.add_parser(name, help="Retrieve information about proxy configuration"))
        p.add_argument("what", help="secret | listeners | routes | clusters")
        p.add_argument("target", help="<pod-name[.namespace]> or deployment/<name>")
        p.add_argument("-n", "--namespace", default=None, help="Namespace")
        p.add_argument("-o", "--output", default="short", help="short or json")
        p.set_defaults(command="proxy-config")

    a = _common(sub.add_parser("authn", help="Interact with Istio authentication policies"))
    asub = a.add_subparsers(dest="acommand", metavar="<command>", parser_class=Parser)
    p = _common(asub.add_parser("tls-check", help="Check the TLS settings of a pod's destinations"))
    p.add_argument("target", help="pod name or pod/NAME")
    p.add_argument("service", nargs="?", default=None, help="Service (optional)")
    p.add_argument("-n", "--namespace", default=None, help="Namespace")
    return root


def _tag_parser(sub: argparse._SubParsersAction) -> None:
    t = _common(sub.add_parser("tag", help="Command group used to interact with revision tags"))
    tsub = t.add_subparsers(dest="tcommand", metavar="<command>", parser_class=Parser)
    p = _common(tsub.add_parser("set", help="Create or modify revision tags"))
    p.add_argument("tag", help="revision tag")
    p.add_argument("-r", "--revision", required=True, help="Control plane revision the tag points at")
    p.add_argument("--overwrite", action="store_true", help="Allow moving an existing tag")
    p.add_argument("-y", "--skip-confirmation", dest="yes", action="store_true", help="Do not ask")
    p.add_argument("-d", "--manifests", default=None, help=argparse.SUPPRESS)
    p.add_argument("--webhook-name", default=None, help=argparse.SUPPRESS)
    for name in ("list", "show"):
        _common(tsub.add_parser(name, help="List existing revision tags")).set_defaults(tcommand="list")
    for name in ("remove", "delete"):
        p = _common(tsub.add_parser(name, help="Remove Istio control plane revision tag"))
        p.add_argument("tag", help="revision tag")
        p.add_argument("-y", "--skip-confirmation", dest="yes", action="store_true", help="Do not ask")
        p.set_defaults(tcommand="remove")
    t.set_defaults(command="tag")


def _truthy(value: str) -> bool:
    return str(value).lower() not in ("false", "0", "no")


def _client(args: argparse.Namespace) -> KubeClient:
    try:
        return KubeClient.from_kubeconfig(args.kubeconfig, args.context)
    except ConfigError as exc:
        raise CommandError(f"failed to create Kubernetes client: {exc}") from None


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Dispatch a parsed command line."""
    cmd = args.command
    if cmd == "version":
        err.write(STANDIN_NOTE.format(tool=TOOL) + "\n")  # on stderr, so the version output stays parseable
        client = _client(args) if _truthy(args.remote) else None
        return reports.version(client, remote=_truthy(args.remote), output=args.output, out=out, err=err)
    client = _client(args)
    if cmd == "install":
        plan = build_plan(args.filename, args.sets, args.revision)
        if args.dry_run:  # like istioctl: the progress lines, nothing applied
            out.write("✔ Istio core installed\n✔ Istiod installed\n"
                      + ("✔ Ingress gateways installed\n" if plan.gateway else "") + "✔ Installation complete\n")
            return 0
        return install.run_install(client, plan, yes=args.yes, timeout=parse_duration(args.readiness_timeout),
                                   out=out, err=err)
    if cmd == "uninstall":
        revision = args.revision
        if args.filename or args.sets:
            revision = revision or build_plan(args.filename, args.sets, None).revision
        if not revision and not args.purge:
            raise CommandError("at least one of the --revision (or --set revision=<revision>), --filename or "
                               "--purge flags must be set")
        return install.run_uninstall(client, revision, purge=args.purge, yes=args.yes, out=out, err=err)
    if cmd == "proxy-status":
        return reports.proxy_status(client, target=args.target, namespace=args.namespace, revision=args.revision,
                                    out=out)
    if cmd == "analyze":
        namespace = None if args.all_namespaces else (args.namespace or client.conn.namespace)
        return analyze.analyze(client, namespace=namespace, failure_threshold=args.failure_threshold,
                               output_threshold=args.output_threshold, output=args.output, out=out, err=err,
                               suppress=args.suppress)
    if cmd == "tag" or (cmd == "x" and args.xcommand == "tag"):
        return _run_tag(client, args, out)
    if cmd == "x":
        if args.xcommand == "precheck":
            return analyze.precheck(client, out=out, err=err)
        if args.xcommand == "wait":
            return reports.wait(client, condition=args.condition, revision=args.revision, resource=args.resource,
                                timeout=parse_duration(args.timeout), out=out)
        raise CommandError('unknown command "" for "istioctl experimental"')
    if cmd == "proxy-config":
        return proxyconfig.proxy_config(client, args.what, args.target, args.namespace or client.conn.namespace,
                                        args.output, out)
    if cmd == "authn" and args.acommand == "tls-check":
        return proxyconfig.tls_check(client, args.target, args.namespace or client.conn.namespace, out, err)
    raise CommandError(f'unknown command "{cmd}" for "istioctl"')


def _run_tag(client: KubeClient, args: argparse.Namespace, out: TextIO) -> int:
    if args.tcommand == "set":
        return tags.set_tag(client, args.tag, args.revision, overwrite=args.overwrite, out=out)
    if args.tcommand == "list":
        return tags.list_tags(client, out)
    if args.tcommand == "remove":
        return tags.remove_tag(client, args.tag, yes=args.yes, out=out)
    raise CommandError('unknown command "" for "istioctl tag"')


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run one istioctl command line; returns its exit code."""
    return run_tool(TOOL, argv, out, err, build_parser, run, ("-c", "--kubeconfig"), ("--context",))


if __name__ == "__main__":
    sys.exit(main())

