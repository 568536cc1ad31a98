"""Istio's standard metrics, generated from emulated traffic, in the Prometheus text format.

Each tick, every ready pod with an Istio proxy receives requests from the previous workload of its namespace
(or from the ingress gateway); ``source_version``/``destination_version`` are the proxies' Istio revisions.
Error rate and p99 latency are injectable per revision through the faults' ``metrics`` block. Each
emulator has its own ``CollectorRegistry``.
"""
from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import Metric

from .injection import pod_is_ready, proxy_revision

if TYPE_CHECKING:
    from .faults import Faults
    from .store import Store

REQUEST_LABELS = ["reporter", "source_workload", "source_workload_namespace", "source_app", "source_version",
                  "source_cluster", "destination_workload", "destination_workload_namespace", "destination_app",
                  "destination_version", "destination_service", "destination_service_name",
                  "destination_service_namespace", "destination_cluster", "request_protocol", "response_code",
                  "response_flags", "connection_security_policy"]
DURATION_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
                    1800000, 3600000)
CONVERGENCE_BUCKETS = (0.1, 0.5, 1, 3, 5, 10, 20, 30)
XDS_TYPES = ("cds", "eds", "lds", "rds")
BASE_P99_MS = 40.0


class _PushCounter:
    """``pilot_xds_pushes`` as istiod exposes it: a bare sample name (no ``_total``), hence untyped."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], float] = {}

    def collect(self) -> Iterable[Metric]:
        m = Metric("pilot_xds_pushes", "Pilot build and send errors for lds, rds, cds and eds.", "unknown")
        for (typ, rev), v in sorted(self.values.items()):
            m.add_sample("pilot_xds_pushes", {"type": typ, "revision": rev}, v)
        yield m


class MeshMetrics:
    """The registry and the traffic model that feeds it."""

    # The classic text format every Prometheus (2.x and 3.x) scrapes; generate_latest writes exactly it.
    content_type = "text/plain; version=0.0.4; charset=utf-8"

    def __init__(self, store: "Store", faults: "Faults", *, requests_per_pod: int = 10, seed: int = 7) -> None:
        self.store, self.faults = store, faults
        self.requests_per_pod = requests_per_pod
        self.registry = CollectorRegistry(auto_describe=False)
        self._rng = random.Random(seed)
        self.requests = Counter("istio_requests_total", "Total requests.", REQUEST_LABELS, registry=self.registry)
        self.duration = Histogram("istio_request_duration_milliseconds", "Request duration in milliseconds.",
                                  REQUEST_LABELS, buckets=DURATION_BUCKETS, registry=self.registry)
        self.convergence = Histogram("pilot_proxy_convergence_time", "Delay in seconds between config change and "
                                     "a proxy receiving all required configuration.", ["revision"],
                                     buckets=CONVERGENCE_BUCKETS, registry=self.registry)
        self.pushes = _PushCounter()
        self.registry.register(self.pushes)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def _latency(self, revision_p99: float | None) -> float:
        """A log-normal latency whose 99th percentile is ``revision_p99`` (or the healthy baseline)."""
        p99 = revision_p99 if revision_p99 is not None else BASE_P99_MS
        sigma = 0.6
        median = p99 / math.exp(2.326 * sigma)
        return self._rng.lognormvariate(math.log(median), sigma)

    def tick(self) -> None:
        """Emulate one round of traffic and xDS pushes."""
        by_ns: dict[str, dict[str, list[tuple[str, dict]]]] = {}
        proxies_per_rev: dict[str, int] = {}
        for pod in self.store.list("pods"):
            rev = proxy_revision(pod)
            if rev is None or not pod_is_ready(pod):
                continue
            proxies_per_rev[rev] = proxies_per_rev.get(rev, 0) + 1
            labels = pod["metadata"].get("labels") or {}
            workload = labels.get("app") or pod["metadata"]["name"].rsplit("-", 2)[0]
            by_ns.setdefault(pod["metadata"]["namespace"], {}).setdefault(workload, []).append((rev, labels))
        gateway = next(iter(sorted(by_ns.get("istio-system", {}).get("istio-ingressgateway", []),
                                   key=lambda x: x[0])), None)
        for ns, workloads in sorted(by_ns.items()):
            if ns == "istio-system":
                continue
            names = sorted(workloads)
            for i, dest in enumerate(names):
                if len(names) > 1:
                    src_name, src_ns = names[i - 1], ns
                    src_rev = workloads[src_name][0][0]
                elif gateway is not None:
                    src_name, src_ns, src_rev = "istio-ingressgateway", "istio-system", gateway[0]
                else:
                    src_name, src_ns, src_rev = "unknown", "unknown", "unknown"
                for dst_rev, labels in workloads[dest]:
                    self._traffic(src_name, src_ns, src_rev, dest, ns, dst_rev, labels)
        for rev, count in proxies_per_rev.items():
            istiod_rev = rev
            for typ in XDS_TYPES:
                key = (typ, istiod_rev)
                self.pushes.values[key] = self.pushes.values.get(key, 0.0) + count
            for _ in range(min(count, 20)):
                self.convergence.labels(istiod_rev).observe(self._rng.uniform(0.01, 0.4))

    def _traffic(self, src: str, src_ns: str, src_rev: str, dst: str, dst_ns: str, dst_rev: str,
                 labels: dict) -> None:
        err = 1 - (1 - self.faults.error_rate(src_rev)) * (1 - self.faults.error_rate(dst_rev))
        p99s = [p for p in (self.faults.p99_ms(src_rev), self.faults.p99_ms(dst_rev)) if p is not None]
        p99 = max(p99s) if p99s else None
        service = f"{dst}.{dst_ns}.svc.cluster.local"
        base = {"reporter": "destination", "source_workload": src, "source_workload_namespace": src_ns,
                "source_app": src, "source_version": src_rev, "source_cluster": "Kubernetes",
                "destination_workload": dst, "destination_workload_namespace": dst_ns,
                "destination_app": labels.get("app", dst), "destination_version": dst_rev,
                "destination_service": service, "destination_service_name": dst,
                "destination_service_namespace": dst_ns, "destination_cluster": "Kubernetes",
                "request_protocol": "http", "response_flags": "-", "connection_security_policy": "mutual_tls"}
        failures = sum(1 for _ in range(self.requests_per_pod) if self._rng.random() < err)
        for code, count in (("200", self.requests_per_pod - failures), ("503", failures)):
            if not count:
                continue
            lbl = {**base, "response_code": code, "response_flags": "UF" if code == "503" else "-"}
            self.requests.labels(**lbl).inc(count)
            histogram = self.duration.labels(**lbl)
            for _ in range(count):
                histogram.observe(self._latency(p99))
