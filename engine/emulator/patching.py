"""The patch formats of the Kubernetes API: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and
strategic merge patch (the merge keys and ``$patch``/``$retainKeys``/``$setElementOrder`` directives kubectl
sends for built-in kinds). Pure functions; the API layer picks one by Content-Type.
"""
from __future__ import annotations

import copy
from typing import Any

from .errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Merge keys of built-in list fields, by field name (the Kubernetes types' patchMergeKey tags).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "conditions": "type", "ownerReferences": "uid", "hostAliases": "ip", "topologySpreadConstraints":
    "topologyKey", "webhooks": "name", "subsets": None, "secrets": "name",
}
# Primitive lists whose patch strategy is "merge" (set union) rather than replace.
MERGED_PRIMITIVE_LISTS = {"finalizers"}


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [_unescape(t) for t in path[1:].split("/")]


def _walk(doc: Any, tokens: list[str]) -> Any:
    cur = doc
    for t in tokens:
        if isinstance(cur, list):
            try:
                cur = cur[int(t)]
            except (ValueError, IndexError):
                raise _unprocessable(f"unable to find index {t!r}") from None
        elif isinstance(cur, dict):
            if t not in cur:
                raise _unprocessable(f"doc is missing path: \"/{'/'.join(tokens)}\"")
            cur = cur[t]
        else:
            raise _unprocessable(f"doc is missing path: \"/{'/'.join(tokens)}\"")
    return cur


def _unprocessable(msg: str) -> ApiError:
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: {msg}")


def apply_json_patch(doc: Any, ops: Any) -> Any:
    """Apply an RFC 6902 operation list to a copy of ``doc``."""
    if not isinstance(ops, list):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    doc = copy.deepcopy(doc)
    for op in ops:
        kind, path = op.get("op"), op.get("path")
        if kind not in ("add", "remove", "replace", "move", "copy", "test") or path is None:
            raise bad_request(f"Unexpected kind: {kind}")
        tokens = _pointer(path)
        if kind == "test":
            if _walk(doc, tokens) != op.get("value"):
                raise _unprocessable(f"testing value {path} failed")
            continue
        if kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_walk(doc, src))
            if kind == "move":
                doc = _remove(doc, src)
            doc = _add(doc, tokens, value)
        elif kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc = _remove(doc, tokens)
        else:
            _walk(doc, tokens)  # replace requires the path to exist
            doc = _remove(doc, tokens)
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
    return doc


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _walk(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, list):
        if last == "-":
            parent.append(value)
        else:
            try:
                idx = int(last)
            except ValueError:
                raise _unprocessable(f"invalid index {last!r}") from None
            if idx > len(parent) or idx < 0:
                raise _unprocessable(f"add operation does not apply: doc is missing path: {last}")
            parent.insert(idx, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise _unprocessable(f"add operation does not apply: doc is missing path: \"/{'/'.join(tokens)}\"")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent = _walk(doc, tokens[:-1])
    last = tokens[-1]
    try:
        if isinstance(parent, list):
            parent.pop(int(last))
        else:
            del parent[last]
    except (KeyError, ValueError, IndexError, TypeError):
        raise _unprocessable(f"remove operation does not apply: doc is missing path: \"/{'/'.join(tokens)}\"") \
            from None
    return doc


def apply_merge_patch(doc: Any, patch: Any) -> Any:
    """RFC 7386: dicts merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(doc) if isinstance(doc, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


def _merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        sample = next((i for i in items if isinstance(i, dict)), {})
        return "containerPort" if "containerPort" in sample else "port"
    return MERGE_KEYS.get(field)


def apply_strategic_merge_patch(doc: Any, patch: Any) -> Any:
    """Strategic merge patch for built-in kinds: keyed lists merge by their merge key."""
    return _smp(copy.deepcopy(doc) if isinstance(doc, dict) else {}, patch)


def _smp(doc: dict, patch: dict) -> dict:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            doc[field] = [v for v in doc.get(field) or [] if v not in value]
            continue
        if value is None:
            doc.pop(key, None)
        elif isinstance(value, dict):
            base = doc.get(key)
            doc[key] = _smp(base if isinstance(base, dict) else {}, value)
        elif isinstance(value, list):
            doc[key] = _merge_list(key, doc.get(key), value)
        else:
            doc[key] = copy.deepcopy(value)
    if isinstance(retain, list):
        for key in list(doc):
            if key not in retain:
                del doc[key]
    return doc


def _merge_list(field: str, base: Any, patch: list) -> list:
    base = base if isinstance(base, list) else []
    if field in MERGED_PRIMITIVE_LISTS:
        return base + [v for v in patch if v not in base]
    key = _merge_key(field, base + patch)
    if not key or not all(isinstance(i, dict) for i in patch):
        return [copy.deepcopy(v) for v in patch if not (isinstance(v, dict) and v.get("$patch"))]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if i.get("$patch") != "replace"]
    out = [copy.deepcopy(i) for i in base]
    for item in patch:
        ident = item.get(key)
        idx = next((n for n, cur in enumerate(out) if isinstance(cur, dict) and cur.get(key) == ident), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append(_smp({}, item))
        else:
            out[idx] = _smp(out[idx], item)
    return out
