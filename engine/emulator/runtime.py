"""One emulated cluster, assembled: store, API, controllers, injection, faults, monitor and metrics, plus the
HTTP server on an event loop. :class:`~engine.emulator.emulator.Emulator` runs it on a background thread.
"""
from __future__ import annotations

import asyncio
import traceback

import yaml
from aiohttp import web

from . import events, generic, injection
from . import istio_objects as io
from .api import Api
from .cluster import ClusterFileError, ClusterSpec, base_objects
from .argo import RolloutController
from .autoscaling import AutoscalingController
from .controllers import Controllers
from .daemonsets import DaemonSetController
from .disruption import DisruptionController
from .jobs import CronJobController, JobController, admit_job
from .statefulsets import StatefulSetController
from .endpoints import EndpointsController
from .errors import ApiError
from .faults import FAULTS_CONFIGMAP, Faults
from .metrics import MeshMetrics
from .monitor import DowntimeMonitor
from .resources import ResourceType
from .server import Server

DEFAULT_READINESS_DELAY = 0.3


class Runtime:
    """Everything one emulator owns; all methods run on its event-loop thread (or before it starts)."""

    def __init__(self, spec: ClusterSpec, *, faults: dict | None = None, readiness_delay: float | None = None,
                 metrics_interval: float = 1.0) -> None:
        self.spec = spec
        self.api = Api()
        self.faults = Faults({**(spec.faults or {}), **(faults or {})})
        delay = readiness_delay if readiness_delay is not None else spec.readiness_delay
        self.controllers = Controllers(self.api, self.faults,
                                       readiness_delay=DEFAULT_READINESS_DELAY if delay is None else delay)
        self.endpoints = EndpointsController(self.api.store)
        self.disruption = DisruptionController(self.api.store)
        self.autoscaling = AutoscalingController(self.api.store)
        self.workloads = [StatefulSetController(self.api), DaemonSetController(self.api), JobController(self.api),
                          RolloutController(self.api)]
        self.cronjobs = CronJobController(self.api)
        self.api.admission += [admit_job, injection.admit, self.controllers.schedule_pod, self._allocate_cluster_ip]
        self.metrics = MeshMetrics(self.api.store, self.faults)
        self.metrics_interval = metrics_interval
        self.watches: set[asyncio.Queue] = set()
        self._next_ip = 10
        self._tasks: list[asyncio.Task] = []
        self._runner: web.AppRunner | None = None
        self.server = Server(self)
        self._load()
        self.api.termination_delay = spec.termination_delay  # the starting cluster loads without it
        self.monitor = DowntimeMonitor(self.api.store)
        self.api.store.subscribe(self._faults_configmap_written)

    # -- start-up ----------------------------------------------------------------------------------------
    def _load(self) -> None:
        """Create the starting objects, settled: every pod Ready, every rollout complete."""
        self.controllers.ready_at_once = True
        for obj in base_objects(self.spec.nodes):
            self.create_object(obj)
        self._mirror_faults()
        # Control planes first and settled, so the namespaces' pods are injected by a ready istiod;
        # then namespaces before what lives in them.
        istio = sorted((o for o in self.spec.objects if _is_istio(o)), key=_creation_order)
        rest = sorted((o for o in self.spec.objects if not _is_istio(o)), key=_creation_order)
        for batch in (istio, rest):
            for obj in batch:
                try:
                    self.create_object(obj)
                except ApiError as exc:  # the cluster file's mistake: say which object, no traceback
                    meta = obj.get("metadata") or {}
                    where = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p)
                    if self.spec.lenient:  # a real cluster's dump: one odd object must not stop the copy
                        self.spec.refused.append(f"{obj.get('kind')} {where}: {exc.message}")
                        continue
                    raise ClusterFileError(f"cluster: {obj.get('kind')} {where}: {exc.message}") from None
            self._settle()
        self.endpoints.flush()
        self.disruption.flush()
        self.autoscaling.flush()
        self.controllers.ready_at_once = False

    def _settle(self) -> None:
        """Run every controller to a fixed point (an ordered StatefulSet needs one round per pod)."""
        for _ in range(200):
            self.controllers.settle()
            if not any(c.pending() for c in self.workloads):
                return
            for c in self.workloads:
                c.flush()

    def create_object(self, obj: dict, *, exist_ok: bool = True) -> dict | None:
        """Create one manifest through the API (admission included); an existing object is left as it is."""
        # A kind nothing defines (a custom resource without its CRD, a built-in kind not modelled) is served
        # generically: the starting cluster is a copy of a real one and keeps everything it had.
        rt = generic.serve_kind(self.api.registry, obj)
        if rt is None:
            raise ApiError(400, "BadRequest", f'no matches for kind "{obj.get("kind")}" in version '
                                              f'"{obj.get("apiVersion")}"')
        try:
            return self.api.create(rt, obj["metadata"].get("namespace", "default") if rt.namespaced else "", obj)
        except ApiError as exc:
            if exc.code == 409 and exist_ok:
                return None
            raise

    def _allocate_cluster_ip(self, api: Api, rt: ResourceType, obj: dict) -> None:
        if rt.key != "services":
            return
        spec = obj.setdefault("spec", {})
        if spec.get("clusterIP") in (None, "") and spec.get("type") != "ExternalName":
            self._next_ip += 1
            ip = f"10.96.{(self._next_ip // 250) % 250}.{self._next_ip % 250 + 1}"
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        elif spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") in ("NodePort", "LoadBalancer"):
            for i, p in enumerate(spec.get("ports") or []):
                p.setdefault("nodePort", 30000 + (self._next_ip * 7 + i) % 2767)
        if spec.get("type") == "LoadBalancer":
            obj["status"] = {"loadBalancer": {"ingress": [{"ip": f"172.18.255.{200 + self._next_ip % 50}",
                                                           "ipMode": "VIP"}]}}

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0: a free port); returns the base URL."""
        loop = asyncio.get_running_loop()
        self.controllers.start(loop)
        self.endpoints.start(loop)
        self.disruption.start(loop)
        self.autoscaling.start(loop)
        for c in self.workloads:
            c.start(loop)
        self.cronjobs.start(loop)
        self._tasks.append(loop.create_task(self._metrics_loop()))
        # In-flight requests (a hanging timeout fault, a long watch) must not hold up stop().
        self._runner = web.AppRunner(self.server.app(), access_log=None, handle_signals=False,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        actual = self._runner.addresses[0][1]
        self.server.address = f"{host}:{actual}"
        return f"http://{host}:{actual}"

    async def stop(self) -> None:
        await self.controllers.stop()
        await self.cronjobs.stop()
        for t in self._tasks:
            t.cancel()
        for q in list(self.watches):
            q.put_nowait(None)
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics_loop(self) -> None:
        while True:
            try:
                self.metrics.tick()
            except Exception:  # a metrics bug must not stop the traffic model for the rest of the run
                traceback.print_exc()
            await asyncio.sleep(self.metrics_interval)

    # -- faults ------------------------------------------------------------------------------------------
    def set_faults(self, faults: dict) -> None:
        """Replace the live fault configuration and mirror it where stand-ins read it."""
        self.faults.set(faults)
        self._mirror_faults()

    def _mirror_faults(self) -> None:
        ns, name = FAULTS_CONFIGMAP
        cm = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/managed-by": "emulator"}},
              "data": {"faults.yaml": yaml.safe_dump(self.faults.public(), sort_keys=True)}}
        rt = self.api.registry.by_key("configmaps")
        if self.api.find(rt, ns, name) is None:
            self.api.create(rt, ns, cm)
        else:
            self.api.replace(rt, ns, name, cm)

    def _faults_configmap_written(self, kind: str, key: str, obj: dict, old: dict | None) -> None:
        """A client wrote the faults ConfigMap (``kubectl apply``/``patch``): its block becomes the live faults."""
        meta = obj["metadata"]
        if key != "configmaps" or kind == "DELETED" or (meta.get("namespace"), meta["name"]) != FAULTS_CONFIGMAP:
            return
        try:
            doc = yaml.safe_load((obj.get("data") or {}).get("faults.yaml") or "") or {}
            doc = doc.get("faults", doc) if isinstance(doc, dict) else doc
            if doc == self.faults.public():
                return  # our own mirror write, or no change
            self.faults.set(doc)
        except (yaml.YAMLError, ValueError) as exc:
            events.record(self.api.store, obj, "Warning", "InvalidFaults", f"faults not applied: {exc}", "emulator")

    # -- inspection --------------------------------------------------------------------------------------
    def state(self) -> dict:
        """Every object (events aside) as one ``v1 List``, the form ``kubectl get -o yaml`` prints."""
        items = []
        for key in sorted(self.api.store.keys()):
            if key == "events":
                continue
            items += self.api.store.list(key)
        return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""}, "items": items}


def _creation_order(obj: dict) -> int:
    """Namespaces, then CRDs, then built-in objects, then custom resources (which need their CRD)."""
    kind, group = obj.get("kind"), str(obj.get("apiVersion", "")).rpartition("/")[0]
    if kind == "Namespace":
        return 0
    if kind == "CustomResourceDefinition":
        return 1
    return 3 if "." in group and not group.endswith(".k8s.io") else 2


def _is_istio(obj: dict) -> bool:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") == io.ISTIO_NAMESPACE or obj.get("kind") in (
        "CustomResourceDefinition", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration") or (
        obj.get("kind") == "Namespace" and meta.get("name") == io.ISTIO_NAMESPACE)

