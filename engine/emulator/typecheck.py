"""Field types of built-in objects checked against their OpenAPI schema, before anything reads them: a wrong
type is the 400 the API server's decoder gives (``Deployment in version "v1" cannot be handled as a
Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32``),
never an emulator crash.
"""
from __future__ import annotations

import json
from typing import Any

from .errors import ApiError, invalid
from .openapi import builtin_definitions, builtin_gvk_index
from .resources import ResourceType

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(schema: dict, defs: dict) -> str:
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        parts = name.split(".")
        return f"{parts[-2]}.{parts[-1]}"
    t = schema.get("type")
    if t == "integer":
        return schema.get("format") or "int"
    if t == "number":
        return "float64"
    if t == "boolean":
        return "bool"
    if t == "string":
        return "[]uint8" if schema.get("format") == "byte" else "string"
    if t == "array":
        return "[]" + _go_type(schema.get("items") or {}, defs)
    if t == "object" and isinstance(schema.get("additionalProperties"), dict):
        return "map[string]" + _go_type(schema["additionalProperties"], defs)
    return "interface {}"


def check(rt: ResourceType, obj: Any) -> list[tuple]:
    """Raise the API server's 400 for the first wrongly typed field of a built-in object; return the paths
    (keys and list indices) of the fields its schema does not know."""
    defs = builtin_definitions()
    name = builtin_gvk_index().get((rt.group, rt.version, rt.kind))
    if name is None:
        return []
    unknown: list[tuple] = []
    problem = _walk(obj, {"$ref": f"#/definitions/{name}"}, defs, [], name.rsplit(".", 1)[-1], (), unknown)
    if problem:
        raise _cannot_handle(rt, problem)
    return unknown


def _cannot_handle(rt: ResourceType, problem: str) -> ApiError:
    return ApiError(400, "BadRequest", f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                                       f"{problem}")


def field_path(tokens: tuple) -> str:
    """``spec.template.spec.containers[0].imagee``, as the API server names an unknown field."""
    out = ""
    for t in tokens:
        out += f"[{t}]" if isinstance(t, int) else (f".{t}" if out else t)
    return out


def enforce(rt: ResourceType, obj: Any, validation: str | None, schema: dict | None = None) -> list[str]:
    """Check ``obj`` (a custom resource against its CRD's ``schema``) and drop the fields its schema does not
    know (a Go struct cannot hold them; a structural schema prunes them), as ``fieldValidation`` says:
    ``Strict`` refuses them (400), ``Warn`` (the default) returns the warnings, ``Ignore`` drops them."""
    if schema is not None and isinstance(obj, dict):
        unknown = check_custom(rt, schema, obj)
    else:
        unknown = check(rt, obj)
    if not unknown:
        return []
    names = [f'unknown field "{field_path(u)}"' for u in unknown]
    if validation == "Strict":
        raise _cannot_handle(rt, "strict decoding error: " + ", ".join(names))
    for tokens in sorted(unknown, key=len, reverse=True):
        parent = obj
        for t in tokens[:-1]:
            parent = parent[t]
        parent.pop(tokens[-1], None)
    return [] if validation == "Ignore" else names


def _mismatch(value: Any, schema: dict, defs: dict, path: list[str], struct: str) -> str:
    literal = f" {value}" if isinstance(value, float) else ""
    where = f"Go struct field {struct}.{'.'.join(path)}" if path else "Go value"
    return f"json: cannot unmarshal {_json_type(value)}{literal} into {where} of type {_go_type(schema, defs)}"


def _walk(value: Any, schema: dict, defs: dict, path: list[str], struct: str, where: tuple,
          unknown: list[tuple]) -> str | None:
    """The first type problem under ``value``, or None; fields the schema lacks are added to ``unknown``.
    ``path`` names fields as Go's decoder does (no indices), ``where`` locates them (with indices)."""
    if value is None:
        return None
    ref = schema.get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name) or {}
        if name == _INT_OR_STRING:
            if isinstance(value, bool) or not isinstance(value, (int, str)):
                return f"json: cannot unmarshal {_json_type(value)} into Go value of type int32"
            return None
        if name == _QUANTITY:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                return ("quantities must match the regular expression "
                        "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
            return None
        if "properties" in target:
            if not isinstance(value, dict):
                return _mismatch(value, schema, defs, path, struct)
            go_name = name.rsplit(".", 1)[-1]
            for key, sub in value.items():
                prop = target["properties"].get(key)
                if prop is None:
                    unknown.append(where + (key,))
                    continue
                problem = _walk(sub, prop, defs, path + [key], go_name, where + (key,), unknown)
                if problem:
                    return problem
            return None
        if "type" not in target:  # RawExtension, JSON: anything goes
            return None
        return _walk(value, {k: v for k, v in target.items() if k != "description"}, defs, path, struct, where,
                     unknown)
    t = schema.get("type")
    if t == "string":
        ok = isinstance(value, str)
    elif t == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == "number":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif t == "boolean":
        ok = isinstance(value, bool)
    elif t == "array":
        if not isinstance(value, list):
            return _mismatch(value, schema, defs, path, struct)
        items = schema.get("items") or {}
        for i, item in enumerate(value):
            problem = _walk(item, items, defs, path, struct, where + (i,), unknown)
            if problem:
                return problem
        return None
    elif t == "object":
        if not isinstance(value, dict):
            return _mismatch(value, schema, defs, path, struct)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, sub in value.items():
                problem = _walk(sub, extra, defs, path, struct, where + (key,), unknown)
                if problem:
                    return problem
        return None
    else:
        return None
    return None if ok else _mismatch(value, schema, defs, path, struct)


# -- custom resources: the CRD's structural schema ----------------------------------------------------------
_JSON_TYPES = {"string": str, "boolean": bool, "array": list, "object": dict}


def _schema_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "null")


def _type_ok(value: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _JSON_TYPES.get(t, object))


def check_custom(rt: ResourceType, schema: dict, obj: dict) -> list[tuple]:
    """Validate a custom resource against its CRD's ``openAPIV3Schema`` as the API server does (422 Invalid
    with one cause per field); return the paths of fields the schema prunes."""
    causes: list[tuple[str, str, str]] = []
    unknown: list[tuple] = []
    stack: list[tuple[Any, dict, tuple]] = [(v, (schema.get("properties") or {}).get(k) or {}, (k,))
                                           for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")]
    if not schema.get("x-kubernetes-preserve-unknown-fields"):
        known = set(schema.get("properties") or {}) | {"apiVersion", "kind", "metadata"}
        unknown += [(k,) for k in obj if k not in known]
        stack = [s for s in stack if s[2][0] in known]
    while stack:
        value, s, where = stack.pop()
        if value is None:
            continue
        name = field_path(where)
        t = s.get("type")
        if s.get("x-kubernetes-int-or-string"):
            if not (isinstance(value, str) or _type_ok(value, "integer")):
                causes.append((name, "FieldValueTypeInvalid", f'Invalid value: "{_schema_type(value)}": {name} in '
                               f'body must be of type integer-or-string: "{_schema_type(value)}"'))
            continue
        if t and not _type_ok(value, t):
            causes.append((name, "FieldValueTypeInvalid", f'Invalid value: "{_schema_type(value)}": {name} in body '
                           f'must be of type {t}: "{_schema_type(value)}"'))
            continue
        if "enum" in s and value not in s["enum"]:
            supported = ", ".join(json.dumps(e) for e in s["enum"])
            causes.append((name, "FieldValueNotSupported",
                           f"Unsupported value: {json.dumps(value)}: supported values: {supported}"))
        if isinstance(value, dict):
            props = s.get("properties") or {}
            extra = s.get("additionalProperties")
            for key in s.get("required") or []:
                if key not in value:
                    causes.append((field_path(where + (key,)), "FieldValueRequired", "Required value"))
            for key, sub in value.items():
                if key in props:
                    stack.append((sub, props[key], where + (key,)))
                elif isinstance(extra, dict):
                    stack.append((sub, extra, where + (key,)))
                elif not s.get("x-kubernetes-preserve-unknown-fields") and extra is not True and (props or t):
                    unknown.append(where + (key,))
        elif isinstance(value, list) and isinstance(s.get("items"), dict):
            stack += [(item, s["items"], where + (i,)) for i, item in enumerate(value)]
    if causes:
        raise invalid(rt, (obj.get("metadata") or {}).get("name", ""), sorted(causes))
    return unknown
