"""Helm values from -f files (``-`` is stdin), --set and --set-string, typed and merged the way helm does."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from .common import CommandError, set_path


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


def merge_values(base: dict, over: dict) -> dict:
    """``over`` deep-merged into a copy of ``base``."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge_values(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
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
        values = merge_values(values, doc if isinstance(doc, dict) else {})
    for typed, items in ((True, sets), (False, set_strings)):
        for item in items:
            for part in _split_set(item):
                if "=" not in part:
                    raise CommandError(f'failed parsing --set data: key "{part}" has no value')
                key, raw = part.split("=", 1)
                set_path(values, key, _helm_scalar(raw) if typed else raw)
    return values
