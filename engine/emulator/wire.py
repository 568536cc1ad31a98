"""The bytes on the wire: request bodies decoded by their Content-Type (JSON, YAML or Kubernetes protobuf, and
nothing else), within the API server's size limit and with YAML aliasing and nesting bounded; responses
encoded as the API server's Go encoder writes them (keys in struct order, ``<>&`` escaped, a final newline).
"""
from __future__ import annotations

import json
from typing import Any

import yaml

from . import protobuf
from .errors import ApiError, bad_request, unsupported_media_type

# The API server's limit on a request body (apiserver's MaxRequestBodyBytes).
MAX_BODY_BYTES = 3 * 1024 * 1024
# Deeper than any real object; keeps recursive processing far from Python's recursion limit.
MAX_DEPTH = 100
# A YAML document may expand through aliases to at most this many nodes (a "billion laughs" is refused).
MAX_EXPANDED_NODES = 200_000

PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml",
               "application/strategic-merge-patch+json")
YAML_TYPES = frozenset({"application/yaml", "application/apply-patch+yaml"})
OBJECT_TYPES = ("application/json", "application/yaml", protobuf.CONTENT_TYPE)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def encode(body: Any) -> bytes:
    """JSON as Go's ``json.Encoder`` writes it: HTML characters escaped, a trailing newline."""
    text = _encoder.encode(body)
    if "<" in text or ">" in text or "&" in text or "\u2028" in text or "\u2029" in text:
        text = (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))
    return text.encode() + b"\n"


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def too_large() -> ApiError:
    return ApiError(413, "RequestEntityTooLarge", f"Request entity too large: limit is {MAX_BODY_BYTES}")


def decode(raw: bytes, content_type: str, accepted: tuple[str, ...] | frozenset[str] = OBJECT_TYPES) -> Any:
    """A request body as data; 415 for a media type outside ``accepted``, 400 for a malformed body.

    An absent Content-Type is read as JSON, as the API server does.
    """
    ctype = media_type(content_type) or "application/json"
    if ctype not in accepted:
        raise unsupported_media_type(list(accepted))
    if len(raw) > MAX_BODY_BYTES:
        raise too_large()
    if ctype == protobuf.CONTENT_TYPE:
        return protobuf.decode(raw)
    if ctype in YAML_TYPES:
        data = _json_or_yaml(raw)
    else:
        data = _json(raw)
    check_depth(data)
    return data


def _json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise bad_request("json: exceeded max depth") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


def _json_or_yaml(raw: bytes | str) -> Any:
    """Clients send apply patches as JSON (fast to read) far more often than as YAML."""
    if raw.lstrip()[:1] in (b"{", "{"):
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
    return load_yaml(raw)


def load_yaml(raw: bytes | str) -> Any:
    """One YAML document; refuses excessive aliasing before anything is expanded."""
    try:
        loader = _LOADER(raw)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _check_aliasing(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError:
        raise bad_request("error converting YAML to JSON: yaml: exceeded max depth") from None
    except yaml.YAMLError as exc:
        raise bad_request(f"error converting YAML to JSON: yaml: {exc}".replace("\n", " ")) from None


def _check_aliasing(root: yaml.Node) -> None:
    """Count the nodes the document expands to (each shared node once per use), without expanding it."""
    sizes: dict[int, int] = {}
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes and not done:
            continue
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            sizes[key] = -1  # in progress (a recursive alias is refused by the constructor later)
            distinct += 1
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        total = 1 + sum(max(sizes.get(id(c), 1), 1) for c in children)
        sizes[key] = total
        if total > MAX_EXPANDED_NODES:
            raise bad_request("error converting YAML to JSON: yaml: document contains excessive aliasing")


def check_depth(data: Any) -> None:
    """Refuse documents nested deeper than :data:`MAX_DEPTH`."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request(f"the object is nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
