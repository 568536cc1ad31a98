"""A small stdlib client for the Kubernetes REST API, used by the istioctl and helm stand-ins.

It reads a kubeconfig ($KUBECONFIG, --kubeconfig, --context), speaks JSON over one kept-alive
http.client connection, and wraps API failures once, by HTTP status, into ApiError/NotFound/Conflict.
It does not import the kubernetes package: each stand-in run must start in well under 0.2 s.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import yaml


class ApiError(Exception):
    """An API call that did not succeed; ``status`` 0 means the server could not be reached."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


class NotFound(ApiError):
    """HTTP 404."""


class Conflict(ApiError):
    """HTTP 409 (AlreadyExists or a resourceVersion conflict)."""


class ConfigError(Exception):
    """The kubeconfig is missing or does not name a usable cluster."""


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the REST API."""

    group_version: str
    plural: str
    namespaced: bool


# The kinds the stand-ins touch; anything else is looked up through discovery.
_KNOWN: dict[str, Resource] = {
    "Namespace": Resource("v1", "namespaces", False),
    "Pod": Resource("v1", "pods", True),
    "Service": Resource("v1", "services", True),
    "ConfigMap": Resource("v1", "configmaps", True),
    "Secret": Resource("v1", "secrets", True),
    "ServiceAccount": Resource("v1", "serviceaccounts", True),
    "Deployment": Resource("apps/v1", "deployments", True),
    "ReplicaSet": Resource("apps/v1", "replicasets", True),
    "HorizontalPodAutoscaler": Resource("autoscaling/v2", "horizontalpodautoscalers", True),
    "PodDisruptionBudget": Resource("policy/v1", "poddisruptionbudgets", True),
    "MutatingWebhookConfiguration": Resource("admissionregistration.k8s.io/v1",
                                             "mutatingwebhookconfigurations", False),
    "ValidatingWebhookConfiguration": Resource("admissionregistration.k8s.io/v1",
                                               "validatingwebhookconfigurations", False),
    "CustomResourceDefinition": Resource("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "IstioOperator": Resource("install.istio.io/v1alpha1", "istiooperators", True),
}


@dataclass(frozen=True)
class Connection:
    """What a kubeconfig context resolves to."""

    server: str
    token: str | None = None
    basic: tuple[str, str] | None = None
    ssl_context: ssl.SSLContext | None = None
    namespace: str = "default"


def kubeconfig_path(explicit: str | None = None) -> Path:
    """The kubeconfig to read: --kubeconfig, else the first existing $KUBECONFIG entry, else ~/.kube/config."""
    if explicit:
        return Path(explicit).expanduser()
    for entry in os.environ.get("KUBECONFIG", "").split(os.pathsep):
        if entry and Path(entry).expanduser().exists():
            return Path(entry).expanduser()
    return Path.home() / ".kube" / "config"


def _named(items: list[dict] | None, name: str, what: str) -> dict:
    for item in items or []:
        if item.get("name") == name:
            return item.get(what) or {}
    raise ConfigError(f"invalid configuration: {what} was not found for specified {what}: {name}")


def _load_client_cert(sslctx: ssl.SSLContext, user: dict) -> None:
    """Load the user's client certificate; ssl wants files, so -data fields go through private temp files."""
    made: list[str] = []

    def path_of(field: str) -> str | None:
        if user.get(field):
            return user[field]
        if not user.get(f"{field}-data"):
            return None
        fd, path = tempfile.mkstemp(prefix="standin-", suffix=".pem")
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.b64decode(user[f"{field}-data"]))
        made.append(path)
        return path

    try:
        cert, key = path_of("client-certificate"), path_of("client-key")
        if cert:
            sslctx.load_cert_chain(cert, key)
    finally:
        for path in made:
            os.unlink(path)


def load_connection(kubeconfig: str | None = None, context: str | None = None) -> Connection:
    """Resolve a kubeconfig (path or default) and context name into a Connection."""
    path = kubeconfig_path(kubeconfig)
    try:
        # libyaml's loader where PyYAML has it: a fleet's kubeconfig (a context per cluster) took the pure-Python
        # loader ~40 ms at 50 clusters, in every stand-in run.
        config = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except OSError as exc:
        raise ConfigError(f"invalid configuration: no configuration has been provided ({path}: "
                          f"{exc.strerror})") from None
    ctx_name = context or config.get("current-context")
    if not ctx_name:
        raise ConfigError("invalid configuration: no configuration has been provided, try setting "
                          "KUBERNETES_MASTER environment variable")
    ctx = _named(config.get("contexts"), ctx_name, "context")
    cluster = _named(config.get("clusters"), ctx.get("cluster", ""), "cluster")
    user = _named(config.get("users"), ctx["user"], "user") if ctx.get("user") else {}
    server = cluster.get("server") or ""
    if not server:
        raise ConfigError(f'cluster "{ctx.get("cluster")}" has no server')
    sslctx = None
    if server.startswith("https:"):
        sslctx = ssl.create_default_context(
            cafile=cluster.get("certificate-authority"),
            cadata=(base64.b64decode(cluster["certificate-authority-data"]).decode()
                    if cluster.get("certificate-authority-data") else None))
        if cluster.get("insecure-skip-tls-verify"):
            sslctx.check_hostname = False
            sslctx.verify_mode = ssl.CERT_NONE
        _load_client_cert(sslctx, user)
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = Path(user["tokenFile"]).read_text().strip()
    basic = (user["username"], user.get("password", "")) if user.get("username") else None
    return Connection(server.rstrip("/"), token, basic, sslctx, ctx.get("namespace") or "default")


class KubeClient:
    """JSON calls against one API server; objects are plain dicts."""

    def __init__(self, conn: Connection, timeout: float = 30.0) -> None:
        self.conn = conn
        self.timeout = timeout
        self._http: http.client.HTTPConnection | None = None
        self._discovered: dict[str, dict[str, Resource]] = {}
        split = urlsplit(conn.server)
        self._host, self._port = split.hostname or "localhost", split.port
        self._prefix = split.path.rstrip("/")
        self._https = split.scheme == "https"

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None = None, context: str | None = None) -> "KubeClient":
        """A client for the kubeconfig's (or the named) context."""
        return cls(load_connection(kubeconfig, context))

    # -- transport -------------------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        if self._http is None:
            if self._https:
                self._http = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                                         context=self.conn.ssl_context)
            else:
                self._http = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
            self._http.connect()
            # http.client writes headers and body separately; without NODELAY, Nagle plus delayed ACKs
            # add ~40 ms to every call that has a body.
            self._http.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._http

    def request(self, method: str, path: str, body: Any = None, *, query: dict | None = None,
                content_type: str = "application/json") -> Any:
        """One API call; returns the decoded JSON body, raises ApiError on failure."""
        url = self._prefix + path + (f"?{urlencode(query)}" if query else "")
        headers = {"Accept": "application/json", "User-Agent": "playbook-emulator-standin"}
        if self.conn.token:
            headers["Authorization"] = f"Bearer {self.conn.token}"
        elif self.conn.basic:
            raw = f"{self.conn.basic[0]}:{self.conn.basic[1]}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                self.close()
                # A kept-alive connection the server closed is retried once on a fresh one.
                if attempt == 1 and isinstance(exc, (http.client.RemoteDisconnected, BrokenPipeError,
                                                     ConnectionResetError)):
                    continue
                target = f"{self._host}:{self._port}"
                if isinstance(exc, TimeoutError):
                    raise ApiError(0, "Timeout", f'{method.title()} "{self.conn.server}{url}": '
                                                 "context deadline exceeded") from None
                raise ApiError(0, "ConnectionError",
                               f'{method.title()} "{self.conn.server}{url}": dial tcp {target}: '
                               "connect: connection refused") from None
        if resp.status >= 400:
            raise _api_error(resp.status, raw)
        return json.loads(raw) if raw else None

    def close(self) -> None:
        """Drop the kept-alive connection."""
        if self._http is not None:
            self._http.close()
            self._http = None

    # -- resource paths --------------------------------------------------------------------------

    def resource(self, api_version: str, kind: str) -> Resource:
        """Where ``kind`` lives; unknown kinds are found through the group version's discovery document."""
        known = _KNOWN.get(kind)
        if known and known.group_version == api_version:
            return known
        if api_version not in self._discovered:
            base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
            doc = self.request("GET", base) or {}
            self._discovered[api_version] = {
                r["kind"]: Resource(api_version, r["name"], bool(r.get("namespaced")))
                for r in doc.get("resources", []) if "/" not in r["name"]}
        try:
            return self._discovered[api_version][kind]
        except KeyError:
            raise NotFound(404, "NotFound", f'the server doesn\'t have a resource type "{kind}" '
                                            f"in {api_version}") from None

    def path(self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None) -> str:
        """The REST path of a collection (name None) or of one object."""
        res = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if res.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{res.plural}"
        return base + (f"/{quote(name)}" if name else "")

    # -- verbs -----------------------------------------------------------------------------------

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict:
        """One object; raises NotFound."""
        return self.request("GET", self.path(api_version, kind, namespace, name))

    def get_or_none(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object, or None when it does not exist."""
        try:
            return self.get(api_version, kind, name, namespace)
        except NotFound:
            return None

    def list(self, api_version: str, kind: str, namespace: str | None = None,
             label_selector: str | None = None) -> list[dict]:
        """The items of a kind (all namespaces when ``namespace`` is None), optionally label-selected."""
        query = {"labelSelector": label_selector} if label_selector else None
        doc = self.request("GET", self.path(api_version, kind, namespace), query=query) or {}
        items = doc.get("items") or []
        for item in items:
            # List items come without apiVersion/kind; callers treat them like single objects.
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind)
        return items

    def create(self, obj: dict) -> dict:
        """POST an object; raises Conflict when it exists."""
        meta = obj["metadata"]
        return self.request("POST", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace")), obj)

    def replace(self, obj: dict) -> dict:
        """PUT an object over the current one (taking its resourceVersion)."""
        meta = obj["metadata"]
        current = self.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        body = {**obj, "metadata": {**meta, "resourceVersion": current["metadata"].get("resourceVersion")}}
        return self.request("PUT", self.path(obj["apiVersion"], obj["kind"], meta.get("namespace"),
                                             meta["name"]), body)

    def apply(self, obj: dict) -> dict:
        """Create, or replace what is there: the effect of ``kubectl apply`` for whole objects."""
        try:
            return self.create(obj)
        except Conflict:
            return self.replace(obj)

    def patch(self, api_version: str, kind: str, name: str, patch: dict, namespace: str | None = None) -> dict:
        """A JSON merge patch."""
        return self.request("PATCH", self.path(api_version, kind, namespace, name), patch,
                            content_type="application/merge-patch+json")

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete one object (dependents in the background); False when it was already gone."""
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name),
                         {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})
            return True
        except NotFound:
            return False


def _api_error(status: int, raw: bytes) -> ApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = body.get("message") or raw.decode(errors="replace").strip() or f"HTTP {status}"
    reason = body.get("reason") or http.client.responses.get(status, "Unknown")
    cls = NotFound if status == 404 else Conflict if status == 409 else ApiError
    return cls(status, reason, message)
