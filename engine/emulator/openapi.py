"""The OpenAPI documents the emulator serves: ``/openapi/v2`` (JSON, or gnostic protobuf as kubectl asks for
it) and ``/openapi/v3/<group version>``, with the real schemas of the built-in kinds (vendored from the
Kubernetes v1.32 API server's OpenAPI, ``data/kubernetes-openapi-v2.json``) and, for custom resources, the
schema each CRD declares. ``kubectl explain``, the field validation check and the strategic patches kubectl
computes all read these.

Paths are generated per served resource, shaped as the API server writes them (operation ids, actions,
group-version-kind, the patch types each operation consumes: no strategic merge patch for custom resources).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from .resources import METRICS_GROUP, Registry, ResourceType

DATA = Path(__file__).parent / "data" / "kubernetes-openapi-v2.json"
META = "io.k8s.apimachinery.pkg.apis.meta.v1."
OBJECT_META = META + "ObjectMeta"
_PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml"]
_PRODUCES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"]
_STATIC = [META + n for n in ("Status", "DeleteOptions", "Patch", "WatchEvent")] + ["io.k8s.api.autoscaling.v1.Scale"]
# Kinds answered but never stored: served without list/watch/update paths.
_CREATE_ONLY = {"selfsubjectaccessreviews", "selfsubjectreviews", "selfsubjectrulesreviews"}
_TYPE_DESC = {
    "apiVersion": "APIVersion defines the versioned schema of this representation of an object. Servers should "
                  "convert recognized schemas to the latest internal value, and may reject unrecognized values. "
                  "More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
                  "#resources",
    "kind": "Kind is a string value representing the REST resource this object represents. Servers may infer "
            "this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: "
            "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
    "metadata": "Standard object's metadata. More info: "
                "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}


@functools.lru_cache(maxsize=1)
def builtin_definitions() -> dict[str, dict]:
    """The vendored definitions of the built-in kinds (read once; never mutated)."""
    return json.loads(DATA.read_text())["definitions"]


def gvk_of(schema: dict) -> list[tuple[str, str, str]]:
    return [(g.get("group", ""), g.get("version", ""), g.get("kind", ""))
            for g in schema.get("x-kubernetes-group-version-kind") or []]


@functools.lru_cache(maxsize=1)
def builtin_gvk_index() -> dict[tuple[str, str, str], str]:
    return {gvk: name for name, d in builtin_definitions().items() for gvk in gvk_of(d)}


def crd_definition_name(group: str, version: str, kind: str) -> str:
    """The name the API server gives a custom resource's schema: the group reversed, then version and kind."""
    return ".".join(reversed(group.split("."))) + f".{version}.{kind}"


def crd_definitions(crd: dict) -> dict[str, dict]:
    """The schemas (kind and list kind, per served version) one CRD publishes."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, kind = spec.get("group", ""), names.get("kind", "")
    list_kind = names.get("listKind") or f"{kind}List"
    out: dict[str, dict] = {}
    for v in spec.get("versions") or []:
        if not v.get("served", True):
            continue
        version = v.get("name", "")
        schema = copy.deepcopy(((v.get("schema") or {}).get("openAPIV3Schema")) or {
            "type": "object", "x-kubernetes-preserve-unknown-fields": True})
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"description": _TYPE_DESC["apiVersion"], "type": "string"}
        props["kind"] = {"description": _TYPE_DESC["kind"], "type": "string"}
        props["metadata"] = {"$ref": f"#/definitions/{OBJECT_META}", "description": _TYPE_DESC["metadata"]}
        schema.setdefault("type", "object")
        schema["x-kubernetes-group-version-kind"] = [{"group": group, "kind": kind, "version": version}]
        name = crd_definition_name(group, version, kind)
        out[name] = schema
        out[crd_definition_name(group, version, list_kind)] = {
            "description": f"{list_kind} is a list of {kind}", "required": ["items"], "type": "object",
            "properties": {
                "apiVersion": {"description": _TYPE_DESC["apiVersion"], "type": "string"},
                "items": {"description": f"List of {names.get('plural', '')}. More info: "
                          "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md",
                          "items": {"$ref": f"#/definitions/{name}"}, "type": "array"},
                "kind": {"description": _TYPE_DESC["kind"], "type": "string"},
                "metadata": {"$ref": f"#/definitions/{META}ListMeta", "description": _TYPE_DESC["metadata"]}},
            "x-kubernetes-group-version-kind": [{"group": group, "kind": list_kind, "version": version}]}
    return out


def _v2_compatible(schema: Any) -> Any:
    """OpenAPI v2 cannot say what structural v3 schemas can: drop it, as the API server does for CRDs.

    kubectl's v2 validator takes listed properties as all there are, so where a v3 schema keeps unknown
    fields (or is nullable) the API server lists no properties nor items (ToStructuralOpenAPIV2)."""
    if isinstance(schema, list):
        return [_v2_compatible(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _v2_compatible(v) for k, v in schema.items()
           if k not in ("nullable", "oneOf", "anyOf", "not", "x-kubernetes-validations")}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if schema.get("nullable"):
        for k in ("type", "items", "properties"):
            out.pop(k, None)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        out.pop("items", None)
        out.pop("properties", None)
    return out


def _v2_crd_kind(schema: dict) -> dict:
    """A custom kind's v2 schema: one that keeps unknown fields at its root is published as a bare object (not
    even apiVersion, kind and metadata: kubectl would refuse every other field, e.g. of a v1 List's item)."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return {"type": "object", "x-kubernetes-group-version-kind": schema["x-kubernetes-group-version-kind"]}
    return _v2_compatible(schema)


def _refs(obj: Any, acc: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "$ref" and isinstance(v, str):
                acc.add(v.rsplit("/", 1)[-1])
            else:
                _refs(v, acc)
    elif isinstance(obj, list):
        for v in obj:
            _refs(v, acc)


def closure(defs: dict[str, dict], roots: Iterable[str]) -> list[str]:
    """The definitions ``roots`` reach through ``$ref``, sorted."""
    todo, seen = [r for r in roots if r in defs], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        acc: set[str] = set()
        _refs(defs[name], acc)
        todo += [a for a in acc if a in defs and a not in seen]
    return sorted(seen)


def _camel(group: str) -> str:
    if not group:
        return "Core"
    trimmed = group[:-len(".k8s.io")] if group.endswith(".k8s.io") else group
    return "".join(p[:1].upper() + p[1:] for p in trimmed.replace("-", ".").split("."))


class Schemas:
    """All definitions served now: the vendored built-ins plus every established CRD's."""

    def __init__(self, registry: Registry, crds: list[dict]) -> None:
        self.registry = registry
        self.definitions: dict[str, dict] = dict(builtin_definitions())
        self.by_gvk: dict[tuple[str, str, str], str] = dict(builtin_gvk_index())
        self.custom: set[str] = set()
        for crd in crds:
            for name, schema in crd_definitions(crd).items():
                self.definitions[name] = schema
                self.custom.add(name)
                for gvk in gvk_of(schema):
                    self.by_gvk[gvk] = name

    def for_kind(self, group: str, version: str, kind: str) -> str | None:
        """The definition name of a kind, or None."""
        return self.by_gvk.get((group, version, kind))

    def served(self) -> list[ResourceType]:
        return [rt for rt in self.registry.all() if rt.group != METRICS_GROUP]

    # -- paths -------------------------------------------------------------------------------------------
    def _operations(self, rt: ResourceType, version: str) -> list[tuple[str, str, dict]]:
        """(path, method, operation) for one resource at one version, in a version-neutral form."""
        group = rt.group
        gvk = {"group": group, "kind": rt.kind, "version": version}
        kind_def = self.for_kind(group, version, rt.kind)
        list_def = self.for_kind(group, version, rt.kind + "List")
        base = (f"/apis/{group}/{version}" if group else f"/api/{version}")
        ns = "/namespaces/{namespace}" if rt.namespaced else ""
        scope = "Namespaced" if rt.namespaced else ""
        op_id = f"{_camel(group)}{version[:1].upper()}{version[1:]}{scope}{rt.kind}"
        tag = f"{_camel(group)[:1].lower()}{_camel(group)[1:]}_{version}"
        builtin = kind_def in builtin_definitions() if kind_def else False
        patch_types = _PATCH_TYPES if builtin else [t for t in _PATCH_TYPES if "strategic" not in t]
        coll, item = f"{base}{ns}/{rt.plural}", f"{base}{ns}/{rt.plural}/{{name}}"

        def op(action: str, verb: str, what: str, *, params: list[dict] = (), body: str | None = None,
               consumes: list[str] | None = None, response: str | None = kind_def, codes=("200",)) -> dict:
            return {"action": action, "operationId": f"{verb}{op_id}", "description": what, "tags": [tag],
                    "gvk": gvk, "params": list(params), "body": body, "consumes": consumes or ["*/*"],
                    "response": response, "codes": codes}

        write = [_q("dryRun"), _q("fieldManager"), _q("fieldValidation")]
        ops: list[tuple[str, str, dict]] = []
        if rt.plural in _CREATE_ONLY:
            return [(f"{base}/{rt.plural}", "post", op("post", "create", f"create a {rt.kind}", params=write,
                                                      body=kind_def, codes=("200", "201", "202")))]
        ops.append((coll, "get", op("list", "list", f"list or watch objects of kind {rt.kind}",
                                    params=[_q(p) for p in _LIST_PARAMS], response=list_def)))
        ops.append((coll, "post", op("post", "create", f"create a {rt.kind}", params=write, body=kind_def,
                                     codes=("200", "201", "202"))))
        ops.append((coll, "delete", op("deletecollection", "deleteCollection", f"delete collection of {rt.kind}",
                                       params=[_q(p) for p in _LIST_PARAMS + _DELETE_PARAMS],
                                       body=META + "DeleteOptions", response=META + "Status")))
        ops.append((item, "get", op("get", "read", f"read the specified {rt.kind}")))
        ops.append((item, "put", op("put", "replace", f"replace the specified {rt.kind}", params=write,
                                    body=kind_def, codes=("200", "201"))))
        ops.append((item, "patch", op("patch", "patch", f"partially update the specified {rt.kind}",
                                      params=write + [_q("force", "boolean")], body=META + "Patch",
                                      consumes=patch_types, codes=("200", "201"))))
        ops.append((item, "delete", op("delete", "delete", f"delete a {rt.kind}",
                                       params=[_q(p) for p in _DELETE_PARAMS] + [_q("dryRun")],
                                       body=META + "DeleteOptions",
                                       response=kind_def if _returns_object(rt) else META + "Status",
                                       codes=("200", "202"))))
        if rt.namespaced:
            ops.append((f"{base}/{rt.plural}", "get", op(
                "list", "list", f"list or watch objects of kind {rt.kind}", params=[_q(p) for p in _LIST_PARAMS],
                response=list_def) | {"operationId": f"list{op_id.replace('Namespaced', '')}ForAllNamespaces"}))
        for sub in rt.subresources:
            if sub not in ("status", "scale"):
                continue
            target = kind_def if sub == "status" else "io.k8s.api.autoscaling.v1.Scale"
            sub_id = "Status" if sub == "status" else "Scale"
            sub_gvk = gvk if sub == "status" else {"group": "autoscaling", "kind": "Scale", "version": "v1"}
            path = f"{item}/{sub}"
            for method, verb, action in (("get", "read", "get"), ("put", "replace", "put"),
                                         ("patch", "patch", "patch")):
                o = op(action, verb, f"{verb} {sub} of the specified {rt.kind}", response=target,
                       params=write + ([_q("force", "boolean")] if method == "patch" else []),
                       body=None if method == "get" else (META + "Patch" if method == "patch" else target),
                       consumes=patch_types if method == "patch" else None)
                o["operationId"] = f"{verb}{op_id}{sub_id}"
                o["gvk"] = sub_gvk
                ops.append((path, method, o))
        return ops

    def _all_operations(self, group: str | None = None, version: str | None = None):
        for rt in self.served():
            for v in rt.versions:
                if (group is None or rt.group == group) and (version is None or v == version):
                    yield rt, v, self._operations(rt, v)

    # -- OpenAPI v2 --------------------------------------------------------------------------------------
    def v2(self) -> dict:
        """The whole ``/openapi/v2`` document (Swagger 2.0)."""
        paths: dict[str, dict] = {}
        for _, _, ops in self._all_operations():
            for path, method, o in ops:
                item = paths.setdefault(path, {"parameters": _path_params(path)})
                item[method] = _v2_operation(o)
        return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
                "definitions": {n: _v2_crd_kind(d) if n in self.custom else _v2_compatible(d)
                                for n, d in sorted(self.definitions.items())},
                "securityDefinitions": {"BearerToken": {"description": "Bearer Token authentication",
                                                        "in": "header", "name": "authorization",
                                                        "type": "apiKey"}},
                "security": [{"BearerToken": []}]}

    # -- OpenAPI v3 --------------------------------------------------------------------------------------
    def v3_group(self, group: str, version: str) -> dict | None:
        """One group version's OpenAPI v3 document, or None when nothing is served there."""
        paths: dict[str, dict] = {}
        roots: set[str] = set(_STATIC)
        found = False
        for rt, _, ops in self._all_operations(group, version):
            found = True
            for path, method, o in ops:
                item = paths.setdefault(path, {"parameters": _v3_params(_path_params(path))})
                item[method] = _v3_operation(o)
                roots.update(r for r in (o["body"], o["response"]) if r)
        if not found:
            return None
        schemas = {n: _v3_schema(self.definitions[n]) for n in closure(self.definitions, roots)}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths,
                "components": {"schemas": schemas, "securitySchemes": {"BearerToken": {
                    "description": "Bearer Token authentication", "in": "header", "name": "authorization",
                    "type": "apiKey"}}}}

    def v3_root(self, docs: dict[str, bytes]) -> dict:
        """``/openapi/v3``: each group version's URL, with a hash of its document so clients cache it."""
        return {"paths": {path: {"serverRelativeURL": f"/openapi/v3/{path}?hash="
                                 f"{hashlib.sha512(body).hexdigest()[:128].upper()}"}
                          for path, body in docs.items()}}


def _returns_object(rt: ResourceType) -> bool:
    """The kinds whose DELETE answers with the object rather than a Status (see the API server's stores)."""
    return rt.key in OBJECT_ON_DELETE


# Stores with ReturnDeletedObject (pods, services, service accounts), and the kinds whose delete only marks
# them (namespaces go Terminating, CRDs wait for their cleanup finalizer).
OBJECT_ON_DELETE = frozenset({"pods", "services", "serviceaccounts", "namespaces",
                              "customresourcedefinitions.apiextensions.k8s.io"})
_LIST_PARAMS = ["allowWatchBookmarks", "continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
                "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", "watch"]
_DELETE_PARAMS = ["gracePeriodSeconds", "orphanDependents", "propagationPolicy"]
_PARAM_TYPES = {"allowWatchBookmarks": "boolean", "limit": "integer", "timeoutSeconds": "integer",
                "watch": "boolean", "sendInitialEvents": "boolean", "gracePeriodSeconds": "integer",
                "orphanDependents": "boolean"}


def _q(name: str, type_: str | None = None) -> dict:
    return {"in": "query", "name": name, "type": type_ or _PARAM_TYPES.get(name, "string"), "uniqueItems": True}


def _path_params(path: str) -> list[dict]:
    params = []
    for name in ("name", "namespace"):
        if f"{{{name}}}" in path:
            params.append({"in": "path", "name": name, "required": True, "type": "string", "uniqueItems": True,
                           "description": f"{name} of the object" if name == "name" else
                           "object name and auth scope, such as for teams and projects"})
    params.append({"in": "query", "name": "pretty", "type": "string", "uniqueItems": True,
                   "description": "If 'true', then the output is pretty printed."})
    return params


def _v2_operation(o: dict) -> dict:
    params = list(o["params"])
    if o["body"]:
        params.insert(0, {"in": "body", "name": "body", "required": o["action"] != "delete" and
                          o["action"] != "deletecollection", "schema": {"$ref": f"#/definitions/{o['body']}"}})
    responses: dict[str, dict] = {}
    for code in o["codes"]:
        r: dict[str, Any] = {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code]}
        if o["response"]:
            r["schema"] = {"$ref": f"#/definitions/{o['response']}"}
        responses[code] = r
    responses["401"] = {"description": "Unauthorized"}
    return {"consumes": o["consumes"], "description": o["description"], "operationId": o["operationId"],
            "parameters": params, "produces": _PRODUCES, "responses": responses, "schemes": ["https"],
            "tags": o["tags"], "x-kubernetes-action": o["action"], "x-kubernetes-group-version-kind": o["gvk"]}


def _v3_params(params: list[dict]) -> list[dict]:
    out = []
    for p in params:
        q = {k: v for k, v in p.items() if k not in ("type", "in")}
        q["in"] = p["in"]
        q["schema"] = {"type": p["type"], "uniqueItems": True}
        q.pop("uniqueItems", None)
        out.append(q)
    return out


def _v3_operation(o: dict) -> dict:
    op: dict[str, Any] = {"description": o["description"], "operationId": o["operationId"],
                          "parameters": _v3_params(o["params"]), "tags": o["tags"],
                          "x-kubernetes-action": o["action"], "x-kubernetes-group-version-kind": o["gvk"]}
    if o["body"]:
        ref = {"$ref": f"#/components/schemas/{o['body']}"}
        op["requestBody"] = {"content": {t: {"schema": ref} for t in
                                         (o["consumes"] if o["consumes"] != ["*/*"] else ["*/*"])},
                             "required": o["action"] not in ("delete", "deletecollection")}
    responses: dict[str, dict] = {}
    for code in o["codes"]:
        r: dict[str, Any] = {"description": {"200": "OK", "201": "Created", "202": "Accepted"}[code]}
        if o["response"]:
            ref = {"$ref": f"#/components/schemas/{o['response']}"}
            r["content"] = {t: {"schema": ref} for t in _PRODUCES}
        responses[code] = r
    responses["401"] = {"description": "Unauthorized"}
    op["responses"] = responses
    return op


def _v3_schema(schema: Any) -> Any:
    """A v2 definition in v3 form: components refs, and a described ref wrapped in ``allOf`` as the API server
    writes it (a ``$ref`` cannot carry siblings in OpenAPI v3)."""
    if isinstance(schema, list):
        return [_v3_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _v3_schema(v) for k, v in schema.items()}
    ref = out.get("$ref")
    if isinstance(ref, str):
        target = {"$ref": ref.replace("#/definitions/", "#/components/schemas/")}
        rest = {k: v for k, v in out.items() if k != "$ref"}
        return {"allOf": [target], **rest} if rest else target
    return out


class Published:
    """The documents served now, rebuilt only when the set of CRDs changes."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._key: tuple = ()
        self._schemas: Schemas | None = None
        self._cache: dict[str, bytes] = {}

    def schemas(self, crds: list[dict]) -> Schemas:
        key = tuple((c["metadata"]["name"], c["metadata"].get("resourceVersion")) for c in crds)
        if self._schemas is None or key != self._key:
            self._key, self._schemas, self._cache = key, Schemas(self.registry, crds), {}
        return self._schemas

    def v2(self, crds: list[dict], protobuf: bool) -> bytes:
        from . import openapi_proto
        schemas = self.schemas(crds)
        what = "v2.pb" if protobuf else "v2.json"
        if what not in self._cache:
            doc = schemas.v2()
            self._cache[what] = openapi_proto.document(doc) if protobuf else _encode(doc)
        return self._cache[what]

    def v3(self, crds: list[dict], path: str) -> bytes | None:
        """``path`` is ``api/v1`` or ``apis/<group>/<version>``; None when nothing is served there."""
        schemas = self.schemas(crds)
        if path not in self._cache:
            parts = path.split("/")
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            doc = schemas.v3_group(group, version)
            if doc is None:
                return None
            self._cache[path] = _encode(doc)
        return self._cache[path]

    def v3_root(self, crds: list[dict]) -> bytes:
        schemas = self.schemas(crds)
        if "v3" not in self._cache:
            docs = {}
            for group, versions in self.registry.groups():
                if group == METRICS_GROUP:
                    continue
                for v in versions:
                    path = f"apis/{group}/{v}" if group else f"api/{v}"
                    body = self.v3(crds, path)
                    if body is not None:
                        docs[path] = body
            self._cache["v3"] = _encode(schemas.v3_root(docs))
        return self._cache["v3"]


def _encode(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
