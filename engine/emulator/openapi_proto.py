"""OpenAPI v2 as the protobuf kubectl 1.27 and 1.28 ask for (``application/com.github.proto-openapi.spec.v2@v1.0+
protobuf``, the ``openapi.v2.Document`` message of google/gnostic's ``OpenAPIv2.proto``), encoded from the JSON
document. Only the messages a Kubernetes document uses are written; field numbers are gnostic's.
"""
from __future__ import annotations

import json
import struct
from typing import Any

# What clients ask for, and (no "@": it is not a valid media type) what the API server answers with.
ACCEPT = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
CONTENT_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _bytes(num: int, data: bytes) -> bytes:
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def _str(num: int, value: str) -> bytes:
    return _bytes(num, value.encode()) if value else b""


def _bool(num: int, value: bool) -> bytes:
    return _varint(num << 3) + b"\x01" if value else b""


def _int(num: int, value: int) -> bytes:
    return _varint(num << 3) + _varint(int(value)) if value else b""


def _double(num: int, value: float) -> bytes:
    return _varint(num << 3 | 1) + struct.pack("<d", float(value))


def _any(num: int, value: Any) -> bytes:
    """gnostic's Any: the value as YAML text (JSON is YAML), field 2."""
    return _bytes(num, _str(2, json.dumps(value, separators=(",", ":")) + "\n"))


def _extensions(num: int, obj: dict) -> bytes:
    return b"".join(_bytes(num, _str(1, k) + _any(2, v)) for k, v in obj.items() if k.startswith("x-"))


def schema(s: dict) -> bytes:
    """openapi.v2.Schema."""
    out = [_str(1, s.get("$ref", "")), _str(2, s.get("format", "")), _str(3, s.get("title", "")),
           _str(4, s.get("description", ""))]
    if "default" in s:
        out.append(_any(5, s["default"]))
    for num, key in ((6, "multipleOf"), (7, "maximum"), (9, "minimum")):
        if key in s:
            out.append(_double(num, s[key]))
    out += [_bool(8, s.get("exclusiveMaximum", False)), _bool(10, s.get("exclusiveMinimum", False))]
    for num, key in ((11, "maxLength"), (12, "minLength"), (14, "maxItems"), (15, "minItems"),
                     (17, "maxProperties"), (18, "minProperties")):
        out.append(_int(num, s.get(key, 0)))
    out += [_str(13, s.get("pattern", "")), _bool(16, s.get("uniqueItems", False))]
    out += [_str(19, r) for r in s.get("required") or []]
    out += [_any(20, e) for e in s.get("enum") or []]
    extra = s.get("additionalProperties")
    if isinstance(extra, dict):
        out.append(_bytes(21, _bytes(1, schema(extra))))
    elif isinstance(extra, bool):
        out.append(_bytes(21, _varint(2 << 3) + (b"\x01" if extra else b"\x00")))
    if "type" in s:
        types = s["type"] if isinstance(s["type"], list) else [s["type"]]
        out.append(_bytes(22, b"".join(_str(1, t) for t in types)))
    items = s.get("items")
    if isinstance(items, dict):
        out.append(_bytes(23, _bytes(1, schema(items))))
    elif isinstance(items, list):
        out.append(_bytes(23, b"".join(_bytes(1, schema(i)) for i in items)))
    out += [_bytes(24, schema(a)) for a in s.get("allOf") or []]
    if "properties" in s:
        out.append(_bytes(25, b"".join(_bytes(1, _str(1, k) + _bytes(2, schema(v)))
                                       for k, v in s["properties"].items())))
    out.append(_bool(27, s.get("readOnly", False)))
    if "example" in s:
        out.append(_any(30, s["example"]))
    out.append(_extensions(31, s))
    return b"".join(out)


def _parameter(p: dict) -> bytes:
    """openapi.v2.ParametersItem holding a Parameter (body or non-body)."""
    if p["in"] == "body":
        body = (_str(1, p.get("description", "")) + _str(2, p["name"]) + _str(3, "body")
                + _bool(4, p.get("required", False)) + _bytes(5, schema(p.get("schema") or {})))
        return _bytes(1, _bytes(1, body))
    sub = 3 if p["in"] == "query" else 4 if p["in"] == "path" else 1
    # Query sub-schema: required 1, in 2, description 3, name 4, type 6, unique_items 20;
    # path and header sub-schemas: the same but type 5, unique_items 19.
    type_num, unique_num = (6, 20) if sub == 3 else (5, 19)
    msg = (_bool(1, p.get("required", False)) + _str(2, p["in"]) + _str(3, p.get("description", ""))
           + _str(4, p["name"]) + _str(type_num, p.get("type", "")) + _bool(unique_num, p.get("uniqueItems", False)))
    return _bytes(1, _bytes(2, _bytes(sub, msg)))


def _operation(o: dict) -> bytes:
    out = [b"".join(_str(1, t) for t in o.get("tags") or []), _str(3, o.get("description", "")),
           _str(5, o.get("operationId", ""))]
    out += [_str(6, t) for t in o.get("produces") or []]
    out += [_str(7, t) for t in o.get("consumes") or []]
    out += [_bytes(8, _parameter(p)) for p in o.get("parameters") or []]
    codes = b""
    for code, r in (o.get("responses") or {}).items():
        resp = _str(1, r.get("description", ""))
        if "schema" in r:
            resp += _bytes(2, _bytes(1, schema(r["schema"])))
        codes += _bytes(1, _str(1, code) + _bytes(2, _bytes(1, resp)))
    out.append(_bytes(9, codes))
    out += [_str(10, s) for s in o.get("schemes") or []]
    out.append(_extensions(13, o))
    return b"".join(out)


_METHODS = {"get": 2, "put": 3, "post": 4, "delete": 5, "options": 6, "head": 7, "patch": 8}


def document(doc: dict) -> bytes:
    """openapi.v2.Document for a Swagger 2.0 document."""
    info = doc.get("info") or {}
    out = [_str(1, doc.get("swagger", "2.0")),
           _bytes(2, _str(1, info.get("title", "")) + _str(2, info.get("version", "")))]
    paths = b""
    for path, item in (doc.get("paths") or {}).items():
        body = b"".join(_bytes(num, _operation(item[m])) for m, num in _METHODS.items() if m in item)
        body += b"".join(_bytes(9, _parameter(p)) for p in item.get("parameters") or [])
        paths += _bytes(2, _str(1, path) + _bytes(2, body))
    out.append(_bytes(8, paths))
    out.append(_bytes(9, b"".join(_bytes(1, _str(1, name) + _bytes(2, schema(s)))
                                  for name, s in (doc.get("definitions") or {}).items())))
    for req in doc.get("security") or []:
        out.append(_bytes(12, b"".join(_bytes(1, _str(1, k) + _bytes(2, b"".join(_str(1, x) for x in v)))
                                       for k, v in req.items())))
    sec = b""
    for name, d in (doc.get("securityDefinitions") or {}).items():
        if d.get("type") == "apiKey":  # ApiKeySecurity: type 1, name 2, in 3, description 4
            api_key = _str(1, "apiKey") + _str(2, d.get("name", "")) + _str(3, d.get("in", "")) + _str(
                4, d.get("description", ""))
            sec += _bytes(1, _str(1, name) + _bytes(2, _bytes(2, api_key)))
    if sec:
        out.append(_bytes(13, sec))
    return b"".join(out)
