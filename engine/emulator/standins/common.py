"""What both stand-ins share: their argv parser, fault look-up, durations, prompts and table output."""
from __future__ import annotations

import argparse
import re
import sys
from typing import Callable, Iterable, TextIO

import yaml

from .kubeclient import ApiError, ConfigError, KubeClient

FAULTS_NAMESPACE = "kube-system"
FAULTS_CONFIGMAP = "playbook-emulator-faults"
STANDIN_NOTE = ("This is the playbook emulator's stand-in for the real {tool}: it acts on the "
                "emulated cluster's API only.")


class CommandError(Exception):
    """A failure the real tool reports as one ``Error: ...`` line; ``code`` is its exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


class Parser(argparse.ArgumentParser):
    """argparse that reports usage mistakes as CommandError, the way cobra does (exit 1, one line)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Raise instead of printing usage and exiting 2."""
        raise CommandError(message)


def parse_duration(text: str) -> float:
    """Go-style durations ('300s', '5m', '1h30m', '2m0s') or plain seconds, in seconds."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise CommandError(f'invalid argument "{text}": time: invalid duration "{text}"')
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def format_duration(seconds: float) -> str:
    """Seconds as Go prints a time.Duration: 300 -> '5m0s'."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def load_faults(client: KubeClient) -> dict:
    """The emulator's fault block from its ConfigMap; empty when there is none or the API is unreachable."""
    try:
        cm = client.get("v1", "ConfigMap", FAULTS_CONFIGMAP, FAULTS_NAMESPACE)
    except ApiError:
        return {}
    try:
        doc = yaml.safe_load((cm.get("data") or {}).get("faults.yaml") or "") or {}
    except yaml.YAMLError:
        return {}
    if isinstance(doc, dict) and isinstance(doc.get("faults"), dict):
        doc = doc["faults"]
    return doc if isinstance(doc, dict) else {}


def matching_failure(faults: dict, tool: str, argv: list[str]) -> dict | None:
    """The first ``command_failures`` entry for ``tool`` whose ``args`` are a prefix of ``argv``."""
    for entry in faults.get("command_failures") or []:
        if not isinstance(entry, dict) or entry.get("tool") != tool:
            continue
        prefix = [str(a) for a in entry.get("args") or []]
        if argv[:len(prefix)] == prefix:
            return entry
    return None


def injected_failure(client: KubeClient, tool: str, argv: list[str], err: TextIO) -> int | None:
    """If a fault says this command fails, print its stderr and return its exit code; else None."""
    entry = matching_failure(load_faults(client), tool, argv)
    if entry is None:
        return None
    message = str(entry.get("stderr", f"Error: {tool} {' '.join(argv)}: injected failure"))
    if message:
        err.write(message if message.endswith("\n") else message + "\n")
    return int(entry.get("exit_code", 1))


def confirm(prompt: str, out: TextIO, stdin: TextIO | None = None) -> bool:
    """Ask like the real tools: print the prompt, read one line; no answer (EOF) means no."""
    stdin = stdin or sys.stdin
    out.write(prompt + " ")
    out.flush()
    line = stdin.readline()
    return line.strip().lower() in ("y", "yes")


def table(rows: Iterable[Iterable[object]], padding: int, minwidth: int = 0) -> str:
    """Rows laid out like Go's text/tabwriter: every cell but the last padded to its column's width."""
    rows = [[str(c) for c in row] for row in rows]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + padding, minwidth)
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + row[-1:]
        lines.append("".join(cells))
    return "\n".join(lines) + ("\n" if lines else "")


def set_path(doc: dict, dotted: str, value: object) -> None:
    """Set ``a.b[0].c`` in nested dicts/lists, --set style (``\\.`` escapes a dot inside a key)."""
    keys: list[str | int] = []
    for part in dotted.replace("\\.", "\x00").split("."):
        match = re.fullmatch(r"(.*?)((?:\[\d+\])*)", part)
        name, indexes = match.group(1), match.group(2)
        if name:
            keys.append(name.replace("\x00", "."))
        keys += [int(i) for i in re.findall(r"\[(\d+)\]", indexes)]
    node: object = doc
    for key, nxt in zip(keys, keys[1:] + [None]):
        empty = [] if isinstance(nxt, int) else {}
        if nxt is None:
            break
        if isinstance(key, int):
            node.extend({} for _ in range(key + 1 - len(node)))  # type: ignore[union-attr]
            if not isinstance(node[key], (dict, list)):  # type: ignore[index]
                node[key] = empty  # type: ignore[index]
        elif not isinstance(node.get(key), (dict, list)):  # type: ignore[union-attr]
            node[key] = empty  # type: ignore[index]
        node = node[key]  # type: ignore[index]
    last = keys[-1]
    if isinstance(last, int):
        node.extend(None for _ in range(last + 1 - len(node)))  # type: ignore[union-attr]
    node[last] = value  # type: ignore[index]


def parse_set(item: str) -> tuple[str, object]:
    """``key=value`` with the value typed the way --set types it (numbers, booleans, null, strings)."""
    if "=" not in item:
        raise CommandError(f"failed parsing --set data: key \"{item}\" has no value (cannot end with ,)")
    key, raw = item.split("=", 1)
    return key.strip(), typed_scalar(raw)


def typed_scalar(raw: str) -> object:
    """A --set value typed like Helm types it: true/false, null, integers and floats; else the string."""
    if raw in ("true", "false"):
        return raw == "true"
    if raw == "null":
        return None
    if re.fullmatch(r"-?\d+", raw):
        return int(raw)
    if re.fullmatch(r"-?\d+\.\d+", raw):
        return float(raw)
    return raw


def _flag_value(argv: list[str], names: tuple[str, ...]) -> str | None:
    value = None
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                value = argv[i + 1]
            elif arg.startswith(name + "="):
                value = arg.split("=", 1)[1]
    return value


def strip_flags(argv: list[str], names: tuple[str, ...]) -> list[str]:
    """argv without the given value-taking flags (``--flag v`` and ``--flag=v``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in names:
            skip = True
        elif not any(arg.startswith(n + "=") for n in names):
            out.append(arg)
    return out


def fault_exit(tool: str, argv: list[str], err: TextIO, kubeconfig_flags: tuple[str, ...],
               context_flags: tuple[str, ...]) -> int | None:
    """Before parsing (so even a bad command line can be made to fail): a matching injected failure's exit code.

    Connection flags are ignored when matching, since callers put them before the subcommand.
    """
    try:
        client = KubeClient.from_kubeconfig(_flag_value(argv, kubeconfig_flags), _flag_value(argv, context_flags))
    except (ConfigError, OSError, ValueError):
        return None
    try:
        return injected_failure(client, tool, strip_flags(argv, kubeconfig_flags + context_flags), err)
    finally:
        client.close()


def run_tool(tool: str, argv: list[str] | None, out: TextIO | None, err: TextIO | None,
             build_parser: Callable[[], argparse.ArgumentParser],
             run: Callable[[argparse.Namespace, TextIO, TextIO], int],
             kubeconfig_flags: tuple[str, ...], context_flags: tuple[str, ...]) -> int:
    """A stand-in's whole command line: injected failures first, then parse and run, errors worded as Go tools do."""
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = out or sys.stdout, err or sys.stderr
    code = fault_exit(tool, argv, err, kubeconfig_flags, context_flags)
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
