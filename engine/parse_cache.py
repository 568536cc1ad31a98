"""A cache of parsed playbook documents, keyed by a hash of the file's text and of everything that reads it.

Parsing YAML is most of what `validate` and `run --dry-run` spend on a large playbook (10,000 steps: ~0.8 s of
libyaml and construction; unpickling the same tree takes ~0.08 s). A document is stored only after it passed
the document checks (schema, NUL characters, the model built from it), and found again only for the same text
read by the same engine: the key hashes the text with the engine's version, the Python and PyYAML versions
and the source of every module and schema that decides what the text parses to and whether it is valid
(`_SOURCES`). Edit the file, upgrade or change the engine, and the key changes: a stale result is never used.

Small files are not cached (their parse costs less than the look-up). Entries are read with an unpickler that
builds nothing but plain containers and `LineMap`; a damaged or foreign entry is ignored and parsed again.
`PLAYBOOK_CACHE_DIR` moves the cache (default `$XDG_CACHE_HOME/playbook` or `~/.cache/playbook`);
`PLAYBOOK_NO_CACHE=1` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .loader import LineMap

# Below this many characters YAML parses in a few ms: hashing, a look-up and a file write would cost more.
MIN_CHARS = 64 * 1024
# Entries kept: the newest are kept, the rest removed when a new one is written.
MAX_ENTRIES = 32

_HERE = Path(__file__).resolve().parent
# What turns a text into a checked document: a change to any of these makes every older entry unreachable.
_SOURCES = ("loader.py", "model.py", "schema.py", "durations.py", "errors.py", "_schema_checks/playbook.py",
            "schemas/playbook.schema.json")


def cache_dir() -> Path | None:
    """Where parsed documents are kept; None when the cache is turned off."""
    if os.environ.get("PLAYBOOK_NO_CACHE"):
        return None
    given = os.environ.get("PLAYBOOK_CACHE_DIR")
    if given:
        return Path(given) / "parsed"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "playbook" / "parsed"


_salt: bytes | None = None


def _engine_salt() -> bytes:
    """The engine's share of every key (computed once a process: a handful of small files)."""
    global _salt
    if _salt is None:
        import yaml
        digest = hashlib.sha256(f"{__version__}\0{sys.version}\0{yaml.__version__}\0"
                                f"{getattr(yaml, '__with_libyaml__', False)}".encode())
        for name in _SOURCES:
            try:
                digest.update((_HERE / name).read_bytes())
            except OSError:
                digest.update(b"\0missing " + name.encode())
        _salt = digest.digest()
    return _salt


def key_of(text: str) -> str:
    """The cache key of a playbook's text (as this engine reads it)."""
    return hashlib.sha256(_engine_salt() + text.encode("utf-8")).hexdigest()


def _plain_load(data: bytes) -> Any:
    """Unpickle an entry building dicts, lists, strings, numbers and LineMaps; any other class refuses it."""
    import io
    import pickle  # here, not at the top: a small playbook (most runs) never needs it

    class PlainUnpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == LineMap.__module__ and name == "LineMap":
                return LineMap
            raise pickle.UnpicklingError(f"not a parsed playbook: {module}.{name}")
    return PlainUnpickler(io.BytesIO(data)).load()


def lookup(text: str) -> Any | None:
    """The checked document of `text` from an earlier run, or None."""
    where = cache_dir()
    if where is None or len(text) < MIN_CHARS:
        return None
    try:
        data = (where / f"{key_of(text)}.pickle").read_bytes()
        return _plain_load(data)
    except Exception:  # noqa: BLE001 — missing, unreadable or damaged: parse again, as without a cache
        return None


def store(text: str, doc: Any) -> None:
    """Keep the checked document of `text` for the next run; any failure only means no entry."""
    where = cache_dir()
    if where is None or len(text) < MIN_CHARS:
        return
    import pickle
    final = where / f"{key_of(text)}.pickle"
    partial = where / f".{final.name}.{os.getpid()}"
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            pickle.dump(doc, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, final)  # readers see a whole entry or none
        entries = sorted(where.glob("*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[MAX_ENTRIES:]:
            old.unlink(missing_ok=True)
    except (OSError, pickle.PicklingError, RecursionError):
        partial.unlink(missing_ok=True) if partial.parent.is_dir() else None
