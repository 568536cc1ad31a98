"""Field types of built-in objects checked against their OpenAPI schema, before anything reads them: a wrong
type is the 400 the API server's decoder gives (``Deployment in version "v1" cannot be handled as a
Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32``),
never an emulator crash.
"""
from __future__ import annotations

from typing import Any

from .errors import ApiError
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


def check(rt: ResourceType, obj: Any) -> None:
    """Raise the API server's 400 for the first wrongly typed field of a built-in object."""
    defs = builtin_definitions()
    name = builtin_gvk_index().get((rt.group, rt.version, rt.kind))
    if name is None:
        return
    problem = _walk(obj, {"$ref": f"#/definitions/{name}"}, defs, [], name.rsplit(".", 1)[-1])
    if problem:
        raise ApiError(400, "BadRequest",
                       f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {problem}')


def _mismatch(value: Any, schema: dict, defs: dict, path: list[str], struct: str) -> str:
    literal = f" {value}" if isinstance(value, float) else ""
    where = f"Go struct field {struct}.{'.'.join(path)}" if path else "Go value"
    return f"json: cannot unmarshal {_json_type(value)}{literal} into {where} of type {_go_type(schema, defs)}"


def _walk(value: Any, schema: dict, defs: dict, path: list[str], struct: str) -> str | None:
    """The first problem under ``value``, or None. Iterative over lists to keep recursion shallow."""
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
                if prop is not None:
                    problem = _walk(sub, prop, defs, path + [key], go_name)
                    if problem:
                        return problem
            return None
        if "type" not in target:  # RawExtension, JSON: anything goes
            return None
        return _walk(value, {k: v for k, v in target.items() if k != "description"}, defs, path, struct)
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
        for item in value:
            problem = _walk(item, items, defs, path, struct)
            if problem:
                return problem
        return None
    elif t == "object":
        if not isinstance(value, dict):
            return _mismatch(value, schema, defs, path, struct)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for sub in value.values():
                problem = _walk(sub, extra, defs, path, struct)
                if problem:
                    return problem
        return None
    else:
        return None
    return None if ok else _mismatch(value, schema, defs, path, struct)
