"""The HTTP face of the emulator: Kubernetes REST paths (discovery, CRUD, patch, watch, logs, scale, exec),
``/metrics`` and the emulator's own ``/emulator/v1/...`` endpoints, on aiohttp.

Everything here translates HTTP to :class:`~engine.emulator.api.Api` calls and back; semantics live in api.py.
"""
from __future__ import annotations

import asyncio
import json
import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from aiohttp import web

from . import discovery, errors, openapi, openapi_proto, podio, spdy, tables, wire
from .api import CRD_KEY
from .errors import ApiError
from .disruption import evict
from .patching import apply_json_patch, apply_merge_patch
from .resources import METRICS_GROUP, ResourceType
from .selectors import parse_field_selector, parse_label_selector, selector_to_string
from .store import now_iso

if TYPE_CHECKING:
    from .runtime import Runtime

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_NO_FAULT_PREFIXES = ("/emulator/", "/metrics", "/healthz", "/readyz", "/livez")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=wire.encode(body), status=status, content_type="application/json")


def _error(exc: ApiError) -> web.Response:
    return _json(exc.status(), exc.code)


def _wants_table(request: web.Request) -> bool:
    """kubectl get asks for a Table first in its Accept list."""
    accept = request.headers.get("Accept", "")
    return "as=Table" in accept.split(",")[0]


async def _body(request: web.Request) -> Any:
    """The request's object: JSON, YAML or protobuf (kubectl's typed client sends protobuf), nothing else."""
    raw = await request.read()
    if not raw:
        return {}
    return wire.decode(raw, request.headers.get("Content-Type", ""))


def _manager(request: web.Request) -> str:
    """The write's field manager: ``?fieldManager=``, else the User-Agent's product, as the API server does."""
    given = request.query.get("fieldManager")
    if given is not None:
        if len(given) > 128:
            raise errors.ApiError(422, "Invalid", "fieldManager: Too long: may not be more than 128 bytes")
        return given
    return request.headers.get("User-Agent", "").split("/", 1)[0][:128]


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _cross_site(request: web.Request, bound: str) -> bool:
    """A browser page driving the API: from another origin (real clients send neither Origin nor
    Sec-Fetch-Site), or through a name rebound to this address (its Host is not the address we listen on)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc != request.host:
        return True
    bound_host = urlsplit(f"//{bound}").hostname or ""
    if bound_host in ("", "0.0.0.0", "::"):
        return False
    return (urlsplit(f"//{request.host}").hostname or "") not in _LOOPBACK | {bound_host}


class Server:
    """Routes requests of one emulator runtime."""

    def __init__(self, runtime: "Runtime") -> None:
        self.rt = runtime
        self.api = runtime.api
        self.address = ""
        self.openapi = openapi.Published(runtime.api.registry)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._faults_middleware], client_max_size=wire.MAX_BODY_BYTES)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        return app

    @web.middleware
    async def _faults_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith(_NO_FAULT_PREFIXES):
            return await handler(request)
        fault = self.rt.faults.for_request(request.method, request.path_qs)
        if fault is not None:
            if fault.latency_s:
                await asyncio.sleep(fault.latency_s)
            if fault.timeout_s:
                await asyncio.sleep(fault.timeout_s)
            if fault.status:
                reason = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
                          429: "TooManyRequests"}.get(fault.status, "InternalError")
                return _json(ApiError(fault.status, reason, fault.message,
                                      {"causes": [{"message": fault.message}]}).status(), fault.status)
        return await handler(request)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        try:
            if _cross_site(request, self.address):
                raise ApiError(403, "Forbidden", "the emulator refuses requests a web page makes (from another origin, "
                               "or through a name rebound to its address)")
            return await self._route(request)
        except ApiError as exc:
            return _error(exc)
        except web.HTTPRequestEntityTooLarge:
            return _error(wire.too_large())
        except Exception as exc:  # an emulator bug: answer like an API server would, keep the traceback
            traceback.print_exc()
            return _error(ApiError(500, "InternalError", f"Internal error occurred: emulator: {exc!r}"))

    async def _route(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.path.split("/") if p]
        method = request.method
        if not parts:
            return _json({"paths": ["/api", "/api/v1", "/apis", "/metrics", "/version", "/openapi/v2",
                                    "/openapi/v3"]})
        head = parts[0]
        if head == "version":
            return _json(discovery.KUBE_VERSION)
        if head in ("healthz", "readyz", "livez"):
            return web.Response(text="ok")
        if head == "metrics":
            return web.Response(body=self.rt.metrics.exposition(),
                                headers={"Content-Type": self.rt.metrics.content_type})
        if head == "emulator":
            return await self._emulator(request, parts[1:])
        if head == "openapi":
            return self._openapi(request, parts[1:])
        if head == "api":
            if len(parts) == 1:
                return _json(discovery.api_versions(self.address))
            group, version, rest = "", parts[1], parts[2:]
        elif head == "apis":
            if len(parts) == 1:
                return _json(discovery.api_group_list(self.api.registry))
            if len(parts) == 2:
                doc = discovery.api_group(self.api.registry, parts[1])
                if doc is None:
                    raise errors.no_such_path()
                return _json(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.no_such_path()
        if not rest:
            doc = discovery.resource_list(self.api.registry, group, version)
            if doc is None:
                raise errors.no_such_path()
            return _json(doc)
        return await self._resource(request, method, group, version, rest)

    def _openapi(self, request: web.Request, parts: list[str]) -> web.Response:
        crds = self.api.list(self.api.registry.by_key(CRD_KEY))
        if parts == ["v2"]:
            if "protobuf" in request.headers.get("Accept", ""):  # kubectl 1.27 and 1.28 ask only for this
                return web.Response(body=self.openapi.v2(crds, protobuf=True),
                                    headers={"Content-Type": openapi_proto.CONTENT_TYPE})
            return web.Response(body=self.openapi.v2(crds, protobuf=False), content_type="application/json")
        if parts[:1] == ["v3"]:
            if len(parts) == 1:
                body = self.openapi.v3_root(crds)
            elif (parts[1] == "api" and len(parts) == 3) or (parts[1] == "apis" and len(parts) == 4):
                body = self.openapi.v3(crds, "/".join(parts[1:]))
            else:
                body = None
            if body is not None:
                return web.Response(body=body, content_type="application/json")
        raise errors.no_such_path()

    async def _resource(self, request: web.Request, method: str, group: str, version: str,
                        rest: list[str]) -> web.StreamResponse:
        reg = self.api.registry
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            namespace, rest = rest[1], rest[2:]
        rt = reg.lookup(group, version, rest[0])
        if rt is None or (namespace and not rt.namespaced):
            raise errors.no_such_path()
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        q = request.query
        if rt.group == METRICS_GROUP:
            return self._resource_metrics(rt, namespace, name, q)
        if rt.plural in _REVIEWS and method == "POST":
            return _json(_review(rt, await _body(request)), 201)
        dry_run = q.get("dryRun") == "All"
        if not name:
            if method == "GET":
                if q.get("watch") in ("1", "true"):
                    return await self._watch(request, rt, namespace or None)
                return self._list(request, rt, namespace or None)
            if method == "POST":
                body = await _body(request)
                warnings = self.api.enforce_fields(rt, body, q.get("fieldValidation"))
                return self._object(request, rt, self.api.create(rt, namespace, body, dry_run=dry_run,
                                                                 manager=_manager(request)), 201, warnings)
            if method == "DELETE":  # deletecollection answers with the list of what it deleted
                gone = [self.api.delete(rt, obj["metadata"].get("namespace", ""), obj["metadata"]["name"],
                                        dry_run=dry_run)
                        for obj in self.api.list(rt, namespace or None, q.get("labelSelector"),
                                                 q.get("fieldSelector"))]
                return _json({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                              "metadata": {"resourceVersion": self.api.store.resource_version}, "items": gone})
            raise errors.method_not_allowed()
        if sub == "log" and rt.key == "pods":
            return self._log(rt, namespace, name, q)
        if sub == "eviction" and rt.key == "pods" and method == "POST":
            return _json(evict(self.api, namespace, name, await _body(request)), 201)
        if sub == "exec" and rt.key == "pods":
            return await self._exec(request, rt, namespace, name)
        if sub == "scale":
            return await self._scale(request, rt, namespace, name)
        if sub and sub not in rt.subresources:
            raise errors.no_such_path()
        if method == "GET":
            return self._object(request, rt, self.api.get(rt, namespace, name))
        if method == "PUT":
            body = await _body(request)
            warnings = self.api.enforce_fields(rt, body, q.get("fieldValidation"))
            return self._object(request, rt, self.api.replace(rt, namespace, name, body, subresource=sub,
                                                              dry_run=dry_run, manager=_manager(request)),
                                warnings=warnings)
        if method == "PATCH":
            raw = await request.read()
            existed = self.api.find(rt, namespace, name) is not None
            ctype = request.headers.get("Content-Type", "")
            # An apply must name its manager; other writes default to the User-Agent's product.
            manager = request.query.get("fieldManager") if "apply-patch" in ctype else _manager(request)
            warnings: list[str] = []
            obj = self.api.patch(rt, namespace, name, ctype, raw, subresource=sub, dry_run=dry_run, manager=manager,
                                 force=q.get("force") in ("1", "true"), validation=q.get("fieldValidation"),
                                 warnings=warnings)
            return self._object(request, rt, obj, 200 if existed else 201, warnings)
        if method == "DELETE":
            opts = await _body(request) or {}
            propagation = q.get("propagationPolicy") or opts.get("propagationPolicy") or "Background"
            grace = q.get("gracePeriodSeconds", opts.get("gracePeriodSeconds"))
            gone = self.api.delete(rt, namespace, name, propagation=propagation,
                                   preconditions=opts.get("preconditions"), dry_run=dry_run,
                                   grace=0.0 if str(grace) == "0" else None)
            return _json(_deleted(rt, gone))
        raise errors.method_not_allowed()

    def _crd_for(self, rt: ResourceType) -> dict | None:
        return self.api.find(self.api.registry.by_key(CRD_KEY), "", f"{rt.plural}.{rt.group}") if rt.group else None

    def _object(self, request: web.Request, rt: ResourceType, obj: dict, status: int = 200,
                warnings: list[str] = ()) -> web.Response:
        if _wants_table(request):
            resp = _json(tables.to_table(rt, [obj], obj["metadata"].get("resourceVersion", ""),
                                         request.query.get("includeObject", "Metadata"), self._crd_for(rt)), status)
        else:
            resp = _json(obj, status)
        for text in warnings:  # kubectl prints each as "Warning: <text>"
            resp.headers.add("Warning", '299 - ' + json.dumps(text))
        return resp

    def _list(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.Response:
        q = request.query
        items = self.api.list(rt, namespace, q.get("labelSelector"), q.get("fieldSelector"))
        rv = self.api.store.resource_version
        if _wants_table(request):
            return _json(tables.to_table(rt, items, rv, q.get("includeObject", "Metadata"), self._crd_for(rt)))
        return _json({"kind": f"{rt.kind}List", "apiVersion": rt.api_version,
                      "metadata": {"resourceVersion": rv}, "items": items})

    async def _watch(self, request: web.Request, rt: ResourceType, namespace: str | None) -> web.StreamResponse:
        q = request.query
        labels_ok = parse_label_selector(q.get("labelSelector"))
        fields_ok = parse_field_selector(q.get("fieldSelector"))
        table = _wants_table(request)
        include = q.get("includeObject", "Metadata")
        crd = self._crd_for(rt)
        store = self.api.store

        def matches(obj: dict | None) -> bool:
            if obj is None:
                return False
            meta = obj["metadata"]
            if namespace is not None and meta.get("namespace") != namespace:
                return False
            return labels_ok(meta.get("labels") or {}) and fields_ok(obj)

        def translate(kind: str, key: str, obj: dict, old: dict | None) -> tuple[str, dict] | None:
            if key != rt.key:
                return None
            now, before = matches(obj), matches(old) if kind == "MODIFIED" else False
            if kind == "MODIFIED" and now and not before:
                kind = "ADDED"
            elif kind == "MODIFIED" and before and not now:
                kind = "DELETED"
            elif not now:
                return None
            return kind, obj

        def encode(kind: str, obj: dict) -> bytes:
            obj = self.api._at_version(rt, obj)
            if table:
                obj = tables.to_table(rt, [obj], obj["metadata"]["resourceVersion"], include, crd)
            return _dumps({"type": kind, "object": obj}).encode() + b"\n"

        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        initial: list[bytes] = []
        rv_param = q.get("resourceVersion", "")
        if rv_param in ("", "0") or q.get("sendInitialEvents") == "true":
            for obj in self.api.list(rt, namespace, q.get("labelSelector"), q.get("fieldSelector")):
                initial.append(encode("ADDED", obj))
            if q.get("sendInitialEvents") == "true" and q.get("allowWatchBookmarks") == "true":
                # A streaming list (WatchList) ends its initial state with this bookmark.
                initial.append(_dumps({"type": "BOOKMARK", "object": {
                    "kind": rt.kind, "apiVersion": rt.api_version,
                    "metadata": {"resourceVersion": store.resource_version,
                                 "annotations": {"k8s.io/initial-events-end": "true"}}}}).encode() + b"\n")
        else:
            try:
                since = int(rv_param)
            except ValueError:
                raise errors.bad_request(f"invalid resource version {rv_param!r}") from None
            if since < store.oldest_replayable():
                initial.append(_dumps({"type": "ERROR", "object": errors.gone(
                    f"too old resource version: {since} ({store.oldest_replayable()})").status()}).encode() + b"\n")
            else:
                for _, kind, key, obj, old in store.events_since(since):
                    t = translate(kind, key, obj, old)
                    if t:
                        initial.append(encode(*t))

        def listener(kind: str, key: str, obj: dict, old: dict | None) -> None:
            t = translate(kind, key, obj, old)
            if t:
                queue.put_nowait(encode(*t))

        unsubscribe = store.subscribe(listener)
        resp = web.StreamResponse(headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        timeout = float(q.get("timeoutSeconds") or 1800)
        self.rt.watches.add(queue)
        try:
            await resp.prepare(request)
            for line in initial:
                await resp.write(line)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    item = b""
                else:
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except asyncio.TimeoutError:
                        item = b""
                if item is None:  # the emulator is stopping
                    break
                if item == b"":
                    await self._close_window(resp, rt, queue, unsubscribe,
                                             bookmark=q.get("allowWatchBookmarks") == "true" and not table)
                    break
                await resp.write(item)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            unsubscribe()
            self.rt.watches.discard(queue)
        try:
            await resp.write_eof()
        except (ConnectionResetError, RuntimeError):
            pass
        return resp

    async def _close_window(self, resp: web.StreamResponse, rt: ResourceType, queue: asyncio.Queue,
                            unsubscribe: Any, *, bookmark: bool) -> None:
        """End a watch window: first every change still queued for this watcher, then the closing bookmark.

        The bookmark's resourceVersion is where the client's next watch starts, so it must not pass a change
        this watcher has not been sent. Under load the window's time runs out while changes wait in its
        queue (the loop was busy writing, or a controller burst filled it): those are sent first, and the
        bookmark is the version as of unsubscribing, which every queued change is at or before.
        """
        unsubscribe()
        upto = self.api.store.resource_version
        pending: list[bytes] = []
        while not queue.empty():
            line = queue.get_nowait()
            if line is None:  # the emulator is stopping: the client lists again on its next watch
                return
            pending.append(line)
        for line in pending:
            await resp.write(line)
        if bookmark:
            # The window closes with a bookmark, so the client's next watch starts from now rather than
            # from an old resourceVersion that may have left the replay log.
            await resp.write(_dumps({"type": "BOOKMARK", "object": {
                "kind": rt.kind, "apiVersion": rt.api_version,
                "metadata": {"resourceVersion": upto}}}).encode() + b"\n")

    def _log(self, rt: ResourceType, namespace: str, name: str, q: Any) -> web.Response:
        pod = self.api.get(rt, namespace, name)
        containers = [c["name"] for c in pod["spec"].get("containers") or []]
        inits = [c["name"] for c in pod["spec"].get("initContainers") or []]
        container = q.get("container")
        if not container:
            if len(containers) != 1:
                raise errors.bad_request(
                    f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]"
                    + (f" or one of the init containers: [{' '.join(inits)}]" if inits else ""))
            container = containers[0]
        if container not in containers + inits:
            raise errors.bad_request(f"container {container} is not valid for pod {name}")
        if q.get("previous") in ("1", "true"):
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if not any(c.get("name") == container and c.get("restartCount", 0) > 0 for c in statuses):
                raise errors.bad_request(f'previous terminated container "{container}" in pod "{name}" not found')
        lines = podio.fake_log(pod, container)
        if q.get("tailLines"):
            lines = lines[-int(q["tailLines"]):]
        return web.Response(text="".join(f"{line}\n" for line in lines), content_type="text/plain")

    async def _exec(self, request: web.Request, rt: ResourceType, namespace: str, name: str) -> web.StreamResponse:
        """``kubectl exec``: over WebSocket (v5/v4 channel.k8s.io), or SPDY for kubectl before 1.30."""
        pod = self.api.get(rt, namespace, name)
        command = request.query.getall("command", [])
        if spdy.wants_spdy(request):  # kubectl before 1.30
            q = request.query
            wanted = {n for n in ("stdin", "stdout", "stderr") if q.get(n) in ("1", "true")}
            if q.get("tty") in ("1", "true"):
                wanted.discard("stderr")  # a terminal has one output stream
            return await spdy.serve(request, {"error"} | wanted,
                                    lambda: podio.fake_exec(pod, request.query.get("container", ""), command))
        protocols = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
        ws = web.WebSocketResponse(protocols=protocols)
        if not ws.can_prepare(request).ok:
            raise errors.bad_request("exec needs a WebSocket upgrade (remote command protocol v4/v5)")
        await ws.prepare(request)
        rc, out = podio.fake_exec(pod, request.query.get("container", ""), command)
        if request.query.get("stdin") in ("1", "true"):
            try:  # give the client a moment to send (and close) stdin; nothing reads it
                await asyncio.wait_for(ws.receive(), 0.05)
            except asyncio.TimeoutError:
                pass
        if out:
            await ws.send_bytes(b"\x01" + out.encode())
        status = {"metadata": {}, "status": "Success"} if rc == 0 else {
            "metadata": {}, "status": "Failure", "message": f"command terminated with non-zero exit code: {rc}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(rc)}]}}
        await ws.send_bytes(b"\x03" + _dumps(status).encode())
        await ws.close()
        return ws

    async def _scale(self, request: web.Request, rt: ResourceType, namespace: str, name: str) -> web.Response:
        if request.method in ("PUT", "PATCH"):
            raw = await request.read()
            ctype = request.headers.get("Content-Type", "")
            if request.method == "PUT":
                doc = wire.decode(raw, ctype)
                replicas = ((doc if isinstance(doc, dict) else {}).get("spec") or {}).get("replicas")
            else:
                scale = self._scale_doc(rt, self.api.get(rt, namespace, name))
                doc = wire.decode(raw, ctype, wire.PATCH_TYPES)
                patched = apply_json_patch(scale, doc) if "json-patch" in ctype else apply_merge_patch(scale, doc)
                replicas = ((patched if isinstance(patched, dict) else {}).get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise errors.invalid(rt, name, [("spec.replicas", "FieldValueInvalid",
                                                 f"Invalid value: {replicas}: must be greater than or equal to 0")])
            obj = self.api.get(rt, namespace, name)
            # The scale subresource's writer owns spec.replicas, recorded with subresource "scale".
            self.api.replace(rt, namespace, name, {**obj, "spec": {**obj["spec"], "replicas": replicas}},
                             subresource="scale", manager=_manager(request))
        return _json(self._scale_doc(rt, self.api.get(rt, namespace, name)))

    @staticmethod
    def _scale_doc(rt: ResourceType, obj: dict) -> dict:
        meta = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                             if k in meta},
                "spec": {"replicas": obj["spec"].get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": selector_to_string(obj["spec"].get("selector"))}}

    def _resource_metrics(self, rt: ResourceType, namespace: str, name: str, q: Any) -> web.Response:
        """``metrics.k8s.io``: steady, plausible usage per container and node (what ``kubectl top`` reads)."""
        pods_rt = self.api.registry.by_key("pods")
        stamp = now_iso()
        if rt.plural == "pods":
            pods = [self.api.get(pods_rt, namespace, name)] if name else self.api.list(
                pods_rt, namespace or None, q.get("labelSelector"), q.get("fieldSelector"))
            items = [{"metadata": {k: p["metadata"][k] for k in ("name", "namespace", "labels", "creationTimestamp")
                                   if k in p["metadata"]}, "timestamp": stamp, "window": "15s",
                      "containers": [{"name": c["name"], "usage": _usage(p["metadata"]["name"] + c["name"])}
                                     for c in p["spec"].get("containers") or []]}
                     for p in pods if (p.get("status") or {}).get("phase") == "Running"]
        else:
            nodes_rt = self.api.registry.by_key("nodes")
            nodes = [self.api.get(nodes_rt, "", name)] if name else self.api.list(nodes_rt, None,
                                                                                   q.get("labelSelector"))
            items = [{"metadata": {"name": n["metadata"]["name"], "labels": n["metadata"].get("labels", {}),
                                   "creationTimestamp": n["metadata"]["creationTimestamp"]},
                      "timestamp": stamp, "window": "20s", "usage": {"cpu": "412m", "memory": "3120Mi"}}
                     for n in nodes]
        kind = "PodMetrics" if rt.plural == "pods" else "NodeMetrics"
        if name:
            return _json({"kind": kind, "apiVersion": rt.api_version, **items[0]}) if items else _error(
                errors.not_found(rt, name))
        return _json({"kind": f"{kind}List", "apiVersion": rt.api_version, "metadata": {}, "items": items})

    async def _emulator(self, request: web.Request, parts: list[str]) -> web.Response:
        what = parts[1] if len(parts) > 1 else ""
        if what == "faults":
            if request.method == "PUT":
                try:
                    self.rt.set_faults(await _body(request) or {})
                except ValueError as exc:
                    raise errors.bad_request(str(exc)) from None
            return _json(self.rt.faults.public())
        if what == "downtime":
            return _json(self.rt.monitor.report())
        if what == "state":
            return _json(self.rt.state())
        raise errors.no_such_path()


def _deleted(rt: ResourceType, gone: dict) -> dict:
    """A DELETE's answer as the API server's store for that kind gives it: the object, or a Status."""
    meta = gone["metadata"]
    if rt.key == CRD_KEY:  # deleted at once here; a cluster answers while the cleanup finalizer runs
        return {**gone, "metadata": {**meta, "deletionTimestamp": meta.get("deletionTimestamp") or now_iso(),
                                     "finalizers": ["customresourcecleanup.apiextensions.k8s.io"]}}
    if rt.key in openapi.OBJECT_ON_DELETE:
        return gone
    details: dict[str, Any] = {"name": meta["name"]}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.plural
    details["uid"] = meta["uid"]
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


_REVIEWS = ("selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews")
# Who the emulator's kubeconfig authenticates as (``kubectl auth whoami``).
USER_INFO = {"username": "emulator-admin", "groups": ["system:masters", "system:authenticated"]}


def _review(rt: ResourceType, review: Any) -> dict:
    """The emulator has no RBAC: every access review is allowed, every rule granted."""
    if not isinstance(review, dict):
        raise errors.bad_request(f"the body of the request was not a {rt.kind}")
    meta = review.get("metadata") if isinstance(review.get("metadata"), dict) else {}
    out = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {**meta, "creationTimestamp": None}}
    if rt.plural == "selfsubjectreviews":
        return {**out, "status": {"userInfo": USER_INFO}}
    out["spec"] = review.get("spec") or {}
    if rt.plural == "selfsubjectrulesreviews":
        return {**out, "status": {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}}
    return {**out, "status": {"allowed": True, "reason": "the emulator has no RBAC: everything is allowed"}}


def _usage(seed: str) -> dict:
    n = sum(seed.encode()) % 17
    return {"cpu": f"{2 + n}m", "memory": f"{24 + 3 * n}Mi"}
