"""Label and field selectors: the query-string forms (``app=x,tier in (a,b)``) and ``LabelSelector`` objects."""
from __future__ import annotations

import re
from typing import Any, Callable

from .errors import bad_request

Predicate = Callable[[dict], bool]
_TERM = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*"
                   r"(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_terms(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``."""
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [t for t in out if t.strip()]


def parse_label_selector(text: str | None) -> Predicate:
    """A predicate over label dicts for a ``labelSelector`` query value."""
    if not text:
        return lambda labels: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        m = _TERM.match(term)
        if not m:
            raise bad_request(f"unable to parse requirement: {term.strip()!r}")
        neg, key, op, value, setop, values = m.groups()
        if setop:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            checks.append(_set_check(key, "In" if setop == "in" else "NotIn", vals))
        elif op:
            if op in ("=", "=="):
                checks.append(lambda l, k=key, v=value: l.get(k) == v)
            else:
                checks.append(lambda l, k=key, v=value: l.get(k) != v)
        else:
            checks.append((lambda l, k=key: k not in l) if neg else (lambda l, k=key: k in l))
    return lambda labels: all(c(labels) for c in checks)


def _set_check(key: str, op: str, values: set[str]) -> Predicate:
    if op == "In":
        return lambda l: l.get(key) in values
    if op == "NotIn":
        return lambda l: l.get(key) not in values
    if op == "Exists":
        return lambda l: key in l
    if op == "DoesNotExist":
        return lambda l: key not in l
    raise bad_request(f"{op!r} is not a valid label selector operator")


def match_label_selector(selector: dict | None, labels: dict) -> bool:
    """Whether ``labels`` match a ``metav1.LabelSelector`` (an empty selector matches everything)."""
    if not selector:
        return True
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        if not _set_check(expr["key"], expr["operator"], set(expr.get("values") or []))(labels):
            return False
    return True


def selector_to_string(selector: dict | None) -> str:
    """The query-string form of a LabelSelector, as ``kubectl describe`` and scale status show it."""
    parts = [f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for e in (selector or {}).get("matchExpressions") or []:
        op = e["operator"]
        if op in ("In", "NotIn"):
            parts.append(f"{e['key']} {op.lower()} ({','.join(sorted(e.get('values') or []))})")
        else:
            parts.append(e["key"] if op == "Exists" else f"!{e['key']}")
    return ",".join(parts)


def field_value(obj: dict, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def parse_field_selector(text: str | None) -> Predicate:
    """A predicate over whole objects for a ``fieldSelector`` query value (``=``, ``==``, ``!=``)."""
    if not text:
        return lambda obj: True
    checks: list[Predicate] = []
    for term in _split_terms(text):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not m:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path, op, value = m.groups()

        def check(obj: dict, p: str = path, o: str = op, v: str = value) -> bool:
            actual = field_value(obj, p)
            actual = "" if actual is None else str(actual)
            return (actual == v) if o != "!=" else (actual != v)
        checks.append(check)
    return lambda obj: all(c(obj) for c in checks)
