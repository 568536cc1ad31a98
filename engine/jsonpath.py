"""JSONPath, the subset kubectl speaks (`{.status.conditions[?(@.type=="Ready")].status}`), over plain JSON data."""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(r"""\.\.?(?P<name>[A-Za-z0-9_\-/]+)|\[(?P<index>-?\d+|\*)\]|\[['"](?P<key>[^'"]+)['"]\]|"""
                    r"""\[\?\(@(?P<fpath>(?:\.[A-Za-z0-9_\-/]+)+)\s*(?P<op>==|!=)\s*(?P<fval>"[^"]*"|'[^']*'|[^)\s]+)\s*\)\]|"""
                    r"""\.\*""")


def jsonpath(obj: Any, expr: str) -> list[Any]:
    """Values of a kubectl-style JSONPath (`{.status.conditions[?(@.type=="Ready")].status}`) in `obj`."""
    text = expr.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1].strip()
    if text.startswith("$"):
        text = text[1:]
    if text in ("", "."):
        return [obj]
    nodes = [obj]
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"unsupported JSONPath {expr!r} at {text[pos:]!r}")
        pos = m.end()
        out: list[Any] = []
        for node in nodes:
            if m.group("name") is not None or m.group("key") is not None:
                name = m.group("name") or m.group("key")
                if isinstance(node, Mapping) and name in node:
                    out.append(node[name])
            elif m.group("index") is not None:
                if isinstance(node, list):
                    if m.group("index") == "*":
                        out.extend(node)
                    else:
                        i = int(m.group("index"))
                        if -len(node) <= i < len(node):
                            out.append(node[i])
            elif m.group("fpath") is not None:
                want = m.group("fval").strip("'\"")
                for item in node if isinstance(node, list) else []:
                    got = jsonpath(item, m.group("fpath"))
                    match = bool(got) and _as_text(got[0]) == want
                    if match == (m.group("op") == "=="):
                        out.append(item)
            else:  # .*
                out.extend(node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else [])
        nodes = out
    return nodes


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def jsonpath_text(obj: Any, expr: str) -> str:
    """What `kubectl get -o jsonpath=EXPR` prints: matches joined by spaces."""
    return " ".join(_as_text(v) for v in jsonpath(obj, expr))
