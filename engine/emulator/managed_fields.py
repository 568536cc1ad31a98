"""Field ownership (``metadata.managedFields``) and server-side apply as the API server's field manager does
them (structured-merge-diff): every client write records which fields its manager owns; an apply merges
the configuration by the schema's list and map types, removes the fields the applier owned before and no
longer applies (unless another manager owns them), and refuses with 409 a change to a field another
manager owns, unless forced (``--force-conflicts``), which moves the field to the applier.

A field path is a tuple of FieldsV1 elements: ``f:<name>``, ``k:<json keys>``, ``v:<json value>``, ``i:<n>``.
Schemas come from :mod:`openapi` (the vendored built-in definitions, a CRD's schema); without one, maps are
granular and lists atomic, as for a deduced type.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any, Iterable

from .errors import ApiError
from .store import now_iso

Path = tuple[str, ...]
APPLY, UPDATE = "Apply", "Update"
# Never owned: identity and bookkeeping (the field manager's strip set).
_STRIPPED: tuple[Path, ...] = (("f:apiVersion",), ("f:kind",)) + tuple(
    ("f:metadata", f"f:{n}") for n in ("name", "namespace", "creationTimestamp", "selfLink", "uid", "clusterName",
                                         "generation", "managedFields", "resourceVersion", "deletionTimestamp",
                                         "deletionGracePeriodSeconds"))
# Defaults of list-map key fields, so an applied port without a protocol names the same item as the live one.
_KEY_DEFAULTS = {"protocol": "TCP"}


# -- types from schemas -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Type:
    """A schema node as the merge sees it."""

    kind: str  # "struct", "map", "list", "scalar", "untyped"
    schema: Any = None
    relationship: str = "atomic"  # lists: atomic, set or map; maps and structs: granular or atomic
    keys: tuple[str, ...] = ()


class Types:
    """Resolves schema nodes against one set of definitions."""

    def __init__(self, definitions: dict[str, dict]) -> None:
        self.definitions = definitions

    def of(self, schema: Any) -> Type:
        if not isinstance(schema, dict):
            return Type("untyped")
        seen = 0
        while seen < 8:  # follow $ref and single-element allOf
            seen += 1
            if "$ref" in schema:
                target = self.definitions.get(schema["$ref"].rsplit("/", 1)[-1])
                if target is None:
                    return Type("untyped")
                schema = {**target, **{k: v for k, v in schema.items() if k.startswith("x-kubernetes")
                                       and k not in target}}
            elif isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
                schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
            else:
                break
        t = schema.get("type")
        if t == "array":
            rel, keys = "atomic", ()
            list_type = schema.get("x-kubernetes-list-type")
            if list_type in ("set", "map"):
                rel = list_type
                keys = tuple(schema.get("x-kubernetes-list-map-keys") or ()) if list_type == "map" else ()
            elif list_type is None and "merge" in str(schema.get("x-kubernetes-patch-strategy", "")).split(","):
                key = schema.get("x-kubernetes-patch-merge-key")
                rel, keys = ("map", (key,)) if key else ("set", ())
            return Type("list", schema, rel, keys)
        atomic = schema.get("x-kubernetes-map-type") == "atomic"
        if "properties" in schema:
            return Type("struct", schema, "atomic" if atomic else "granular")
        if isinstance(schema.get("additionalProperties"), dict):
            return Type("map", schema, "atomic" if atomic else "granular")
        if t == "object" or schema.get("x-kubernetes-preserve-unknown-fields"):
            return Type("untyped", schema)
        if t in ("string", "integer", "number", "boolean") or schema.get("x-kubernetes-int-or-string"):
            return Type("scalar", schema)
        if not schema or set(schema) <= {"description", "type", "format"}:
            return Type("untyped", schema)
        return Type("untyped", schema)

    def field(self, parent: Type, key: str) -> tuple[Type, bool]:
        """A child's type, and whether it is a declared struct field (a map's entries are not)."""
        if parent.kind == "struct":
            prop = (parent.schema.get("properties") or {}).get(key)
            if prop is not None:
                return self.of(prop), True
            extra = parent.schema.get("additionalProperties")
            return (self.of(extra) if isinstance(extra, dict) else Type("untyped")), False
        if parent.kind == "map":
            return self.of(parent.schema.get("additionalProperties")), False
        return Type("untyped"), False

    def item(self, parent: Type) -> Type:
        return self.of((parent.schema or {}).get("items")) if parent.kind == "list" else Type("untyped")


def _item_element(t: Type, item: Any, index: int) -> str:
    if t.relationship == "map" and t.keys and isinstance(item, dict):
        keys = {k: item.get(k, _KEY_DEFAULTS.get(k)) for k in sorted(t.keys)}
        return "k:" + json.dumps({k: v for k, v in keys.items() if v is not None}, separators=(",", ":"))
    if t.relationship == "set":
        return "v:" + json.dumps(item, separators=(",", ":"), sort_keys=True)
    return f"i:{index}"


# -- field sets -------------------------------------------------------------------------------------------
def members(obj: Any, types: Types, root: Type) -> dict[Path, Any]:
    """Every field of ``obj`` a manager can own, with its value (``None`` where membership is all it has:
    list items and map entries that hold more fields)."""
    out: dict[Path, Any] = {}
    stack: list[tuple[Any, Type, Path]] = [(obj, root, ())]
    while stack:
        value, t, path = stack.pop()
        leaf = (t.kind == "scalar" or (t.kind in ("list", "struct", "map") and t.relationship == "atomic")
                or not isinstance(value, (dict, list)) or (t.kind == "untyped" and isinstance(value, list))
                or (isinstance(value, list) and t.kind != "list")
                or (isinstance(value, dict) and t.kind == "list"))
        if leaf:
            if path:
                out[path] = value
            continue
        if isinstance(value, dict):
            for key, sub in value.items():
                child, declared = types.field(t, key)
                p = path + (f"f:{key}",)
                if not declared or sub is None or (isinstance(sub, dict) and not sub):
                    out[p] = None  # a member itself; a leaf value below replaces this
                stack.append((sub, child, p))
        else:
            elem = types.item(t)
            for i, item in enumerate(value):
                p = path + (_item_element(t, item, i),)
                out[p] = None
                stack.append((item, elem, p))
    return out


def owned(obj: Any, types: Types, root: Type, subresource: str, has_status: bool) -> dict[Path, Any]:
    """:func:`members` less what no manager owns at this endpoint."""
    m = members(obj, types, root)
    keep = strip(m, subresource, has_status)
    return {p: m[p] for p in keep}


def strip(paths: Iterable[Path], subresource: str, has_status: bool) -> set[Path]:
    """Drop what no manager owns, and what this endpoint resets (status on the main resource, the rest on
    the status subresource)."""
    out = set()
    for p in paths:
        if any(p[:len(s)] == s for s in _STRIPPED) or p == ("f:metadata",):
            continue
        if has_status and subresource != "status" and p[:1] == ("f:status",):
            continue
        if subresource == "status" and p[:1] != ("f:status",):
            continue
        out.add(p)
    return out


def to_fields_v1(paths: Iterable[Path]) -> dict:
    root: dict = {}
    for p in sorted(paths, key=len):
        node = root
        for i, element in enumerate(p):
            if element not in node:
                node[element] = {}
            elif not node[element] and i < len(p) - 1:
                node[element] = {".": {}}  # a member that now has children
            node = node[element]
        if node and "." not in node:
            node["."] = {}
    return _sorted(root)


def _sorted(node: dict) -> dict:
    rank = {".": 0, "f": 1, "k": 2, "v": 3, "i": 4}
    return {k: _sorted(node[k]) for k in sorted(node, key=lambda k: (rank.get(k[:1], 5), k))}


def from_fields_v1(node: Any, prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    if not isinstance(node, dict):
        return out
    for key, child in node.items():
        if key == ".":
            out.add(prefix)
        elif isinstance(child, dict) and child:
            out |= from_fields_v1(child, prefix + (key,))
        else:
            out.add(prefix + (key,))
    return out


def path_string(p: Path) -> str:
    """A path as conflicts print it: ``.spec.replicas``, ``.spec.containers[name="c"].image``."""
    out = ""
    for element in p:
        kind, _, rest = element.partition(":")
        if kind == "f":
            out += "." + rest
        elif kind == "k":
            out += "[" + ",".join(f"{k}={json.dumps(v)}" for k, v in json.loads(rest).items()) + "]"
        elif kind == "v":
            out += f"[={rest}]"
        else:
            out += f"[{rest}]"
    return out


# -- managers ---------------------------------------------------------------------------------------------
@dataclass
class Manager:
    manager: str
    operation: str
    api_version: str
    time: str | None
    fields: set[Path]
    subresource: str = ""

    @property
    def ident(self) -> tuple[str, str, str, str]:
        return (self.manager, self.operation, self.subresource,
                "" if self.operation == APPLY else self.api_version)

    def described(self) -> str:
        who = json.dumps(self.manager)
        if self.subresource:
            who += f' with subresource "{self.subresource}"'
        return f"{who} using {self.api_version}" if self.operation == UPDATE else who

    def entry(self) -> dict:
        e = {"manager": self.manager, "operation": self.operation, "apiVersion": self.api_version}
        if self.time:
            e["time"] = self.time
        e["fieldsType"] = "FieldsV1"
        e["fieldsV1"] = to_fields_v1(self.fields)
        if self.subresource:
            e["subresource"] = self.subresource
        return e


def decode(entries: Any) -> list[Manager]:
    out = []
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and isinstance(e.get("manager", ""), str):
            out.append(Manager(e.get("manager", ""), e.get("operation", UPDATE), e.get("apiVersion", ""),
                               e.get("time"), from_fields_v1(e.get("fieldsV1")), e.get("subresource", "")))
    return out


def encode(managers: list[Manager]) -> list[dict]:
    ordered = sorted(managers, key=lambda m: (m.operation, m.time or "", m.manager, m.api_version, m.subresource))
    return [m.entry() for m in ordered if m.fields]


def _compare(old: dict[Path, Any], new: dict[Path, Any]) -> tuple[set[Path], set[Path], set[Path]]:
    """(added, modified, removed) between two member maps."""
    added = set(new) - set(old)
    removed = set(old) - set(new)
    modified = {p for p in set(new) & set(old) if new[p] != old[p]}
    return added, modified, removed


def _under(p: Path, prefixes: set[Path]) -> bool:
    return any(p[:len(q)] == q for q in prefixes)


def _conflict_error(conflicts: list[tuple[Manager, Path]]) -> ApiError:
    causes = [{"reason": "FieldManagerConflict", "message": f"conflict with {m.described()}",
               "field": path_string(p)} for m, p in conflicts]
    if len(conflicts) == 1:
        m, p = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {m.described()}: {path_string(p)}"
    else:
        lines = []
        for who in sorted({m.described() for m, _ in conflicts}):
            lines.append(f"conflicts with {who}:")
            lines += [f"- {path_string(p)}" for m, p in conflicts if m.described() == who]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return ApiError(409, "Conflict", message, {"causes": causes})


def _update_others(managers: list[Manager], me: tuple, old: dict[Path, Any], new: dict[Path, Any], *,
                   force: bool) -> tuple[set[Path], set[Path], set[Path]]:
    """The shared step of apply and update: conflicts (refused unless forced), then ownership moves."""
    added, modified, removed = _compare(old, new)
    changed = added | modified
    conflicts = [(m, p) for m in managers if m.ident != me for p in sorted(m.fields & changed)]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for m in managers:
        if m.ident != me:
            m.fields -= changed | removed
    return added, modified, removed


def _find(managers: list[Manager], ident: tuple) -> Manager | None:
    return next((m for m in managers if m.ident == ident), None)


def update(managers: list[Manager], manager: str, api_version: str, subresource: str,
           old: dict[Path, Any], new: dict[Path, Any]) -> list[Manager]:
    """A non-apply write: the writer takes every field it changed, from whoever owned it."""
    ident = (manager, UPDATE, subresource, api_version)
    added, modified, removed = _update_others(managers, ident, old, new, force=True)
    mine = _find(managers, ident)
    if mine is None:
        mine = Manager(manager, UPDATE, api_version, None, set(), subresource)
        managers.append(mine)
    before = set(mine.fields)
    mine.fields = (mine.fields | added | modified) - removed
    if mine.fields != before or added or modified or removed:
        mine.time = now_iso()
    return [m for m in managers if m.fields]


# -- apply ------------------------------------------------------------------------------------------------
def merge(live: Any, config: Any, t: Type, types: Types) -> Any:
    """The applied configuration merged into the live object by the schema's list and map types."""
    if config is None:
        return None
    if isinstance(config, dict) and isinstance(live, dict) and t.kind in ("struct", "map", "untyped") \
            and t.relationship != "atomic":
        out = dict(live)
        for key, value in config.items():
            if value is None:
                out.pop(key, None)
                continue
            child, _ = types.field(t, key)
            out[key] = merge(live.get(key), value, child, types)
        return out
    if isinstance(config, list) and isinstance(live, list) and t.kind == "list" and t.relationship != "atomic":
        elem = types.item(t)
        index = {_item_element(t, item, i): i for i, item in enumerate(live)}
        out = list(live)
        for i, item in enumerate(config):
            element = _item_element(t, item, i)
            if element in index:
                out[index[element]] = merge(out[index[element]], item, elem, types)
            else:
                index[element] = len(out)
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(config)


def _remove(obj: Any, path: Path, t: Type, types: Types) -> None:
    """Delete the field or item at ``path`` from ``obj`` in place, if it is there."""
    parent, pt = obj, t
    for element in path[:-1]:
        parent, pt = _step(parent, pt, element, types)
        if parent is None:
            return
    last = path[-1]
    if isinstance(parent, dict) and last.startswith("f:"):
        parent.pop(last[2:], None)
    elif isinstance(parent, list):
        for i, item in enumerate(parent):
            if _item_element(pt, item, i) == last:
                del parent[i]
                return


def _step(value: Any, t: Type, element: str, types: Types) -> tuple[Any, Type]:
    if isinstance(value, dict) and element.startswith("f:"):
        child, _ = types.field(t, element[2:])
        return value.get(element[2:]), child
    if isinstance(value, list):
        for i, item in enumerate(value):
            if _item_element(t, item, i) == element:
                return item, types.item(t)
    return None, Type("untyped")


def apply(live: dict, config: dict, managers: list[Manager], manager: str, api_version: str, subresource: str,
          types: Types, root: Type, *, force: bool, has_status: bool) -> tuple[dict, list[Manager]]:
    """Server-side apply: the new object and its managers (raises the 409 conflict unless ``force``)."""
    ident = (manager, APPLY, subresource, "")
    if not managers and live.get("metadata", {}).get("resourceVersion"):
        # The field manager's first apply to an object nobody owned: its fields belong to this pseudo-manager.
        existing = set(owned(live, types, root, subresource, has_status))
        if existing:
            managers = [Manager("before-first-apply", UPDATE, api_version, None, existing)]
    applied = set(owned(config, types, root, subresource, has_status))
    mine = _find(managers, ident)
    last = set(mine.fields) if mine else set()
    new = merge(live, config, root, types)
    others = set().union(*(m.fields for m in managers if m.ident != ident))
    keep = applied | others
    for p in sorted(last - keep, key=len):  # ancestors first: an item goes whole, keys and all
        if not any(q[:len(p)] == p and q != p for q in keep):
            _remove(new, p, root, types)
    _update_others(managers, ident, owned(live, types, root, subresource, has_status),
                   owned(new, types, root, subresource, has_status), force=force)
    if mine is None:
        mine = Manager(manager, APPLY, api_version, None, set(), subresource)
        managers.append(mine)
    mine.api_version = api_version
    if mine.fields != applied or new != live:
        mine.time = now_iso()
    mine.fields = applied
    return new, [m for m in managers if m.fields]
