"""The one seam to the Kubernetes API: config loading, raw JSON requests and watches, errors wrapped by status.

Plugins (`wait`, and the look-ups that `kubectl`/`istioctl` make before changing things) and the template
look-ups (`engine.helpers`) go through `Kube`; JSONPath lives in `engine.jsonpath` and the Istio views of
pods, namespaces and revisions in `engine.istio_views`. The `kubernetes` package is
imported only when a connection is first needed, so `playbook --version` stays fast. Nothing outside this
module sees the client's exception types: they become `KubeError` subclasses here.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import quote

from .errors import PlaybookError

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 30.0
LATE_GRACE = 4.0  # how far past its deadline a wait may still be reading a slow server's answer


# -- errors ------------------------------------------------------------------------------------------

class KubeError(PlaybookError):
    """A Kubernetes API call failed; `status` is the HTTP status (0 when there was no answer)."""

    status = 0


class NotFound(KubeError):
    status = 404


class Conflict(KubeError):
    status = 409


class Unauthorized(KubeError):
    status = 401


class Forbidden(KubeError):
    status = 403


class Gone(KubeError):
    """A watch's resourceVersion is too old: list again."""

    status = 410


class Invalid(KubeError):
    status = 422


class ServerError(KubeError):
    status = 500


class UnknownKind(KubeError):
    """The cluster serves no resource type by that name (a typo, or a CRD that is not installed)."""


class ClusterUnreachable(KubeError):
    """No answer from the API server (connection refused, DNS, timeout)."""


class ApiTimeout(ClusterUnreachable):
    """The API server took the request but did not answer within the read timeout (a busy server, a slow
    network): unlike a refused connection, asking again may well work."""


class KubeConfigError(KubeError):
    """No usable kubeconfig or context."""


_BY_STATUS: dict[int, type[KubeError]] = {404: NotFound, 409: Conflict, 401: Unauthorized, 403: Forbidden,
                                          410: Gone, 422: Invalid}


def error_for(status: int, body: str | bytes, what: str) -> KubeError:
    """Our error for an HTTP status and a Kubernetes Status body."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    message = text.strip()[:300]
    try:
        message = json.loads(text).get("message") or message
    except (ValueError, AttributeError):
        pass
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else KubeError)
    err = cls(f"{what}: {message or 'HTTP ' + str(status)} (HTTP {status})")
    err.status = status
    return err


def _wrap_transport(err: Exception, what: str) -> KubeError:
    """Connection-level failures of urllib3 (and the client's own) as ClusterUnreachable."""
    reason = getattr(err, "reason", None) or err
    return ClusterUnreachable(f"{what}: cannot reach the Kubernetes API ({type(reason).__name__}: {reason})",
                              hint="check --kubeconfig/--context, or run with --emulate")


# -- resources ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    kind: str
    group_version: str  # "v1" or "apps/v1"
    plural: str
    namespaced: bool

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        return base + (f"/{quote(name, safe='')}" if name else "")


_BUILTIN = [
    Resource("Pod", "v1", "pods", True), Resource("Namespace", "v1", "namespaces", False),
    Resource("ConfigMap", "v1", "configmaps", True), Resource("Secret", "v1", "secrets", True),
    Resource("Service", "v1", "services", True), Resource("ServiceAccount", "v1", "serviceaccounts", True),
    Resource("Node", "v1", "nodes", False), Resource("Event", "v1", "events", True),
    Resource("Endpoints", "v1", "endpoints", True),
    Resource("Deployment", "apps/v1", "deployments", True), Resource("ReplicaSet", "apps/v1", "replicasets", True),
    Resource("DaemonSet", "apps/v1", "daemonsets", True), Resource("StatefulSet", "apps/v1", "statefulsets", True),
    Resource("Job", "batch/v1", "jobs", True),
    Resource("PodDisruptionBudget", "policy/v1", "poddisruptionbudgets", True),
    Resource("HorizontalPodAutoscaler", "autoscaling/v2", "horizontalpodautoscalers", True),
    Resource("MutatingWebhookConfiguration", "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations",
             False),
    Resource("ValidatingWebhookConfiguration", "admissionregistration.k8s.io/v1",
             "validatingwebhookconfigurations", False),
    Resource("CustomResourceDefinition", "apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    Resource("IstioOperator", "install.istio.io/v1alpha1", "istiooperators", True),
]
_SHORT = {"po": "pod", "ns": "namespace", "cm": "configmap", "svc": "service", "sa": "serviceaccount",
          "no": "node", "ev": "event", "ep": "endpoints", "deploy": "deployment", "rs": "replicaset",
          "ds": "daemonset", "sts": "statefulset", "pdb": "poddisruptionbudget", "hpa": "horizontalpodautoscaler",
          "crd": "customresourcedefinition", "iop": "istiooperator"}


def _builtin(kind: str) -> Resource | None:
    key = kind.lower()
    key = _SHORT.get(key, key)
    for res in _BUILTIN:
        if key in (res.kind.lower(), res.plural, res.plural.rstrip("s")):
            return res
    return None


def split_ref(ref: str) -> tuple[str, str | None]:
    """`deployment/istiod` -> ("deployment", "istiod"); `deployment` -> ("deployment", None)."""
    kind, _, name = ref.partition("/")
    return kind.strip(), (name.strip() or None)


# -- connection --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Which cluster: a kubeconfig file (None: in-cluster config) and an optional context."""

    kubeconfig: str | None
    context: str | None


def target_for(options: Any, kubeconfig: str | None = None, context: str | None = None) -> Target:
    """The kubeconfig and context a step uses: its own, then --kubeconfig/--context, then $KUBECONFIG, ~/.kube."""
    env = getattr(options, "env", {}) or {}
    path = (kubeconfig or getattr(options, "kubeconfig", None) or env.get("KUBECONFIG")
            or os.environ.get("KUBECONFIG"))
    if path and os.pathsep in path:
        path = path.split(os.pathsep)[0]  # the client reads one file; kubectl merges, we take the first
    if not path:
        default = Path.home() / ".kube" / "config"
        path = str(default) if default.exists() else None
    return Target(kubeconfig=path, context=context or getattr(options, "context", None))


class Kube:
    """A lazily connected client for one Target, speaking raw JSON (dicts, as `kubectl -o json` prints)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._api: Any = None
        self._lock = threading.Lock()
        self._failure: KubeError | None = None  # remembered so an unreachable cluster fails fast after once
        self._discovered: dict[str, Resource] | None = None

    # -- plumbing --------------------------------------------------------------------------------

    def _client(self) -> Any:
        with self._lock:
            if self._failure is not None:
                raise self._failure
            if self._api is None:
                self._api = self._connect()
            return self._api

    def _connect(self) -> Any:
        try:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException
        except ImportError as err:  # pragma: no cover - a declared dependency
            raise KubeConfigError(f"the kubernetes package is not installed ({err})") from None
        where = self.target.kubeconfig or "in-cluster config"
        try:
            cfg = client.Configuration()
            if self.target.kubeconfig is None:
                if not os.environ.get("KUBERNETES_SERVICE_HOST"):
                    raise KubeConfigError("no kubeconfig: none given, $KUBECONFIG unset and ~/.kube/config missing",
                                          hint="pass --kubeconfig or --context, or run with --emulate")
                config.load_incluster_config(client_configuration=cfg)
            else:
                config.load_kube_config(config_file=self.target.kubeconfig, context=self.target.context,
                                        client_configuration=cfg, persist_config=False)
            # One retry on a dropped connection; an unreachable server must fail in seconds, not minutes.
            cfg.retries = 1
            api = client.ApiClient(cfg)
        except ConfigException as err:
            raise KubeConfigError(f"cannot use {where}" + (f" (context {self.target.context})"
                                                           if self.target.context else "") + f": {err}") from None
        except OSError as err:
            raise KubeConfigError(f"cannot read kubeconfig {where}: {err.strerror or err}") from None
        return api

    def request(self, method: str, path: str, *, query: Mapping[str, Any] | None = None, body: Any = None,
                stream: bool = False, timeout: float | None = None,
                content_type: str = "application/json") -> Any:
        """One API call; the parsed JSON body, or with `stream` the open urllib3 response."""
        api = self._client()
        what = f"{method} {path}"
        params = [(k, str(v).lower() if isinstance(v, bool) else str(v))
                  for k, v in (query or {}).items() if v is not None]
        headers = {"Accept": "application/json", "Content-Type": content_type}
        read = timeout if timeout is not None else READ_TIMEOUT
        try:
            if hasattr(api, "param_serialize"):  # kubernetes >= 31: generator v7 style
                m, url, hdrs, data, post = api.param_serialize(method, path, query_params=params,
                                                               header_params=headers, body=body,
                                                               auth_settings=["BearerToken"])
                resp = api.rest_client.request(m, url, headers=hdrs, body=data, post_params=post,
                                               _request_timeout=(CONNECT_TIMEOUT, read)).response
            else:  # pragma: no cover - older clients
                resp = api.call_api(path, method, query_params=params, header_params=headers, body=body,
                                    auth_settings=["BearerToken"], _preload_content=False,
                                    _return_http_data_only=True, _request_timeout=(CONNECT_TIMEOUT, read))
        except PlaybookError:
            raise
        except Exception as err:  # noqa: BLE001 — urllib3/ssl/client errors: all mean "no answer"
            status = getattr(err, "status", None)
            if isinstance(status, int) and status:
                raise error_for(status, getattr(err, "body", "") or "", what) from None
            if _is_read_timeout(err):
                raise ApiTimeout(f"{what}: no answer from the Kubernetes API within {read:g}s") from None
            failure = _wrap_transport(err, what)
            if _is_connect_failure(err):
                with self._lock:
                    self._failure = failure
            raise failure from None
        if not 200 <= resp.status < 300:
            raise error_for(resp.status, resp.data, what)
        if stream:
            return resp
        data = resp.data
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            return data.decode("utf-8", "replace")  # e.g. /version on some proxies, /healthz

    def close(self) -> None:
        """Give back the connection pool (a client made for one step)."""
        with self._lock:
            if self._api is not None:
                try:
                    self._api.close()
                except Exception:  # noqa: BLE001 — closing is best effort
                    pass
                self._api = None

    # -- kinds -----------------------------------------------------------------------------------

    def resource(self, kind: str) -> Resource:
        """The API location of a kind written as kubectl accepts it (`deploy`, `Deployment`, `deployments`)."""
        res = _builtin(kind)
        if res is not None:
            return res
        table = self._discover()
        key = kind.lower()
        found = table.get(key) or table.get(_SHORT.get(key, key))
        if found is None:
            raise UnknownKind(f"the cluster does not serve a resource type '{kind}'",
                           hint="see `kubectl api-resources`")
        return found

    def _discover(self) -> dict[str, Resource]:
        if self._discovered is not None:
            return self._discovered
        table: dict[str, Resource] = {}

        def add(group_version: str, listing: dict) -> None:
            for r in listing.get("resources", []):
                if "/" in r["name"]:
                    continue  # subresources
                res = Resource(r["kind"], group_version, r["name"], bool(r.get("namespaced")))
                for name in [r["name"], r["kind"].lower(), r.get("singularName") or "", *r.get("shortNames", [])]:
                    if name:
                        table.setdefault(name.lower(), res)

        add("v1", self.request("GET", "/api/v1"))
        for group in (self.request("GET", "/apis") or {}).get("groups", []):
            gv = (group.get("preferredVersion") or group["versions"][0])["groupVersion"]
            try:
                add(gv, self.request("GET", f"/apis/{gv}"))
            except KubeError:
                continue  # an aggregated API that is down must not hide the rest
        self._discovered = table
        return table

    # -- reads -----------------------------------------------------------------------------------

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict:
        """One object; raises NotFound."""
        res = self.resource(kind)
        return self.request("GET", res.path(namespace or ("default" if res.namespaced else None), name))

    def find(self, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object, or None when it does not exist."""
        try:
            return self.get(kind, name, namespace)
        except NotFound:
            return None

    def list(self, kind: str, namespace: str | None = None, selector: Any = None,
             field_selector: str | None = None, *, timeout: float | None = None) -> tuple[list[dict], str]:
        """(items, resourceVersion); namespace None lists across all namespaces. `timeout`: seconds to wait
        for the answer (default READ_TIMEOUT); raises ApiTimeout past it."""
        res = self.resource(kind)
        data = self.request("GET", res.path(namespace), timeout=timeout,
                            query={"labelSelector": selector_text(selector), "fieldSelector": field_selector})
        return list(data.get("items") or []), str((data.get("metadata") or {}).get("resourceVersion") or "")

    def watch(self, kind: str, namespace: str | None, resource_version: str, *, selector: Any = None,
              field_selector: str | None = None, seconds: float = 5.0,
              slack: float = 5.0) -> Iterator[tuple[str, dict]]:
        """(type, object) events after `resource_version` for at most `seconds` (and `slack` more for a busy
        server to answer); raises Gone when too old. A server that does not answer in time ends the window
        with no events, as a dropped stream does: the caller watches again from the last version it saw."""
        from kubernetes.watch.watch import iter_resp_lines
        res = self.resource(kind)
        window = max(1, int(seconds))
        try:
            resp = self.request("GET", res.path(namespace), stream=True, timeout=window + slack,
                                query={"watch": "true", "resourceVersion": resource_version or None,
                                       "allowWatchBookmarks": "true", "timeoutSeconds": window,
                                       "labelSelector": selector_text(selector), "fieldSelector": field_selector})
        except ApiTimeout:
            return
        complete = False
        try:
            for line in iter_resp_lines(resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    raise error_for(int(obj.get("code") or 500), json.dumps(obj), f"watch {res.plural}")
                yield event.get("type", ""), obj
            complete = True
        except PlaybookError:
            raise
        except Exception as err:  # noqa: BLE001 — a dropped stream ends this window; the caller lists again
            if not _is_read_end(err):
                raise _wrap_transport(err, f"watch {res.plural}") from None
        finally:
            if not complete:
                resp.close()  # a half-read stream must not go back into the pool
            resp.release_conn()


def _is_connect_failure(err: Exception) -> bool:
    text = f"{type(err).__name__} {err}"
    # Only a connection that could not be made: a MaxRetryError caused by a read timeout or a dropped
    # stream means a busy server, and must not make every later call of this client fail at once.
    return any(s in text for s in ("NewConnectionError", "Connection refused", "NameResolution", "ConnectTimeout"))


def _is_read_timeout(err: Exception) -> bool:
    """A read that timed out (urllib3's ReadTimeoutError, alone or as the cause of MaxRetryError)."""
    text = f"{type(err).__name__} {err}"
    return "ReadTimeout" in text or ("timed out" in text and "ConnectTimeout" not in text)


def _is_read_end(err: Exception) -> bool:
    text = f"{type(err).__name__} {err}"
    return any(s in text for s in ("ReadTimeout", "ProtocolError", "IncompleteRead", "timed out"))


def selector_text(selector: Any) -> str | None:
    """A label selector from `app=x,tier!=y` text or a {key: value} mapping."""
    if selector is None or selector == "":
        return None
    if isinstance(selector, Mapping):
        return ",".join(f"{k}={v}" for k, v in selector.items())
    return str(selector)


# -- watching until a condition holds ----------------------------------------------------------------

Judge = Callable[[dict[str, dict]], "tuple[bool, str]"]


def watch_until(kube: Kube, kind: str, namespace: str | None, judge: Judge, *, deadline: float,
                cancel: threading.Event, progress: Callable[[str], None], selector: Any = None,
                field_selector: str | None = None, heartbeat: float = 30.0) -> tuple[str, str]:
    """Keep a live view of matching objects (list, then watch) until `judge` says done.

    `judge(objects by namespace/name)` returns (done, status text). Returns ("done" | "timeout" | "cancelled",
    last status text). The watch is re-opened in short windows so that cancelling is noticed quickly.
    Progress is reported when the status text changes, and every `heartbeat` seconds while it does not.
    """
    objects: dict[str, dict] = {}
    last = ""
    started = said = time.time()

    def beat() -> None:
        nonlocal said
        if last and time.time() - said >= heartbeat:
            said = time.time()
            progress(f"still waiting after {int(said - started)}s: {last}")

    def key(obj: dict) -> str:
        meta = obj.get("metadata") or {}
        return f"{meta.get('namespace', '')}/{meta.get('name', '')}"

    def judged() -> bool:
        nonlocal last, said
        done, text = judge(objects)
        if text != last:
            last, said = text, time.time()
            progress(text)
        return done

    rv = ""
    listed = False
    while True:
        if cancel.is_set():
            return "cancelled", last
        beat()
        remaining = deadline - time.time()
        if remaining <= 0:
            return "timeout", last
        # No read may outlast the deadline by more than LATE_GRACE: a busy server's slow answer is waited for
        # that long, then asked again (the client retries a read once, so each try gets half).
        patience = min(READ_TIMEOUT, (remaining + LATE_GRACE) / 2)
        if not listed:
            try:
                items, rv = kube.list(kind, namespace, selector, field_selector, timeout=patience)
            except ApiTimeout:
                continue
            objects = {key(o): o for o in items}
            listed = True
            if judged():
                return "done", last
            continue
        window = min(remaining, 2.0, max(heartbeat, 1.0))
        try:
            for kind_of_event, obj in kube.watch(kind, namespace, rv, selector=selector,
                                                 field_selector=field_selector, seconds=window,
                                                 slack=max(1.0, min(5.0, patience - window))):
                rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                if kind_of_event == "BOOKMARK":
                    continue
                if kind_of_event == "DELETED":
                    objects.pop(key(obj), None)
                else:
                    objects[key(obj)] = obj
                if judged():
                    return "done", last
                if cancel.is_set() or time.time() >= deadline:
                    break
        except Gone:
            listed = False


def lazy_kube(options: Any) -> Callable[[], Kube]:
    """A function giving one run's client, made on first use (a playbook whose look-ups never ask the
    cluster never connects)."""
    holder: dict[str, Kube] = {}
    lock = threading.Lock()

    def kube() -> Kube:
        with lock:
            if "k" not in holder:
                holder["k"] = Kube(target_for(options))
            return holder["k"]
    return kube
