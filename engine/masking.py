"""Masking secrets in everything the tool prints or stores: the one place that knows what a secret looks like.

A secret input may be a string or an object/array; every leaf of it is a secret. Each leaf is hidden as
written and in the encodings templates and tools commonly give it: base64 (standard, URL-safe, unpadded,
with a trailing newline as `echo | base64` makes, and the part of any longer base64 text that encodes it),
shell quoting, JSON escaping, Python repr (error messages), URL encoding, and each line of a multi-line leaf.
"""
from __future__ import annotations

import base64
import json
import shlex
import urllib.parse
from dataclasses import replace
from typing import Any, Iterable

from .errors import PlaybookError

MASK = "***"
# Leaves of an object/array secret shorter than this are not masked: hiding every "1" or "on" in the output
# would garble it without protecting anything (a top-level secret is masked whatever its length).
MIN_LEAF = 4
# The base64 of a secret inside longer encoded text (`user:token | b64encode`) is recognised only from the
# part that depends on the secret alone; below this length that part matches too much unrelated text.
MIN_BASE64_CORE = 8


def secret_leaves(value: Any) -> list[str]:
    """Every scalar inside `value` as text (booleans and null are not secrets)."""
    out: list[str] = []
    todo = [value]
    while todo:
        v = todo.pop()
        if isinstance(v, dict):
            todo.extend(v.values())
            todo.extend(k for k in v if isinstance(k, str))
        elif isinstance(v, (list, tuple)):
            todo.extend(v)
        elif v is None or isinstance(v, bool):
            continue
        else:
            out.append(str(v))
    return out


def _base64_forms(text: str) -> set[str]:
    data = text.encode("utf-8")
    forms: set[str] = set()
    for payload in (data, data + b"\n"):
        std = base64.b64encode(payload).decode()
        forms |= {std, std.rstrip("="), base64.urlsafe_b64encode(payload).decode().rstrip("=")}
    # In any longer base64 text the secret starts at byte offset 0, 1 or 2 of a 3-byte group; for each
    # alignment the characters whose 6 bits all come from the secret are the same whatever surrounds it.
    for shift in range(3):
        enc = base64.b64encode(b"\0" * shift + data).decode()
        core = enc[-(-8 * shift // 6):(8 * (shift + len(data))) // 6]
        if len(core) >= MIN_BASE64_CORE:
            forms |= {core, core.replace("+", "-").replace("/", "_")}
    return forms


def encoded_forms(text: str) -> set[str]:
    """`text` and the ways it is commonly encoded on its way into output."""
    forms = {text, shlex.quote(text), json.dumps(text)[1:-1], json.dumps(text, ensure_ascii=False)[1:-1],
             repr(text)[1:-1], urllib.parse.quote(text, safe=""), urllib.parse.quote(text, safe="/"),
             urllib.parse.quote_plus(text), urllib.parse.quote(text, safe="/").replace("%20", "+")}
    forms |= _base64_forms(text)
    lines = [line for line in text.splitlines() if len(line.strip()) >= MIN_LEAF]
    if len(lines) > 1:  # step output arrives a line at a time
        for line in lines:
            forms |= {line, json.dumps(line)[1:-1]}
    return {f for f in forms if f}


class Masker:
    """Replaces every form of every secret with *** (longest first: one secret may contain another)."""

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        forms: set[str] = set()
        for value in secrets:
            if value is None or value == "" or isinstance(value, bool):
                continue
            leaves = secret_leaves(value)
            scalar = not isinstance(value, (dict, list, tuple))
            for leaf in leaves:
                if len(leaf) >= MIN_LEAF:
                    forms |= encoded_forms(leaf)
                elif scalar:  # too short for its encodings to be told from ordinary text
                    forms.add(leaf)
            if not scalar:  # the value as templates print it whole (`{{ creds }}`, `| to_json`)
                forms |= {json.dumps(value, default=str), str(value)}
        self._forms = sorted(forms - {MASK}, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def mask(self, text: str) -> str:
        """`text` with every form of every secret replaced by ***."""
        if not self._forms or not text:
            return text
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def mask_data(self, value: Any) -> Any:
        """`value` with secrets masked in every string inside it (keys included)."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {(self.mask(k) if isinstance(k, str) else k): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.mask_data(v) for v in value]
        return value


def url_host(url: str) -> str:
    """The host[:port] of `url` without its user:password@ part, for notes about it."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{parts.port}" if parts.port is not None else host
    except ValueError:  # a port that is not a number
        return "?"


def masked_error(err: PlaybookError, masker: Masker) -> PlaybookError:
    """The same error with secrets masked in each problem's message, step and hint."""
    if not masker:
        return err
    problems = [replace(p, message=masker.mask(p.message), step=masker.mask(p.step) if p.step else p.step,
                        hint=masker.mask(p.hint) if p.hint else p.hint) for p in err.problems]
    masked = type(err).__new__(type(err))
    PlaybookError.__init__(masked, problems=problems)
    return masked


def url_password(text: str) -> str | None:
    """The password of a `scheme://user:password@host` URL, else None."""
    try:
        return urllib.parse.urlsplit(text).password if "://" in text else None
    except ValueError:
        return None
