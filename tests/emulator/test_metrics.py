"""/metrics: a well-formed Prometheus exposition of Istio's standard metrics, by proxy revision."""
from __future__ import annotations

import shutil
import subprocess
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

CLUSTER = {
    "readiness_delay": 0.05,
    "istio": [{"revision": "default", "version": "1.19.3"}],
    "namespaces": [{"name": "apps", "labels": {"istio-injection": "enabled"},
                    "deployments": [{"name": "front", "replicas": 2}, {"name": "back", "replicas": 1}]}],
}


def _scrape(emu) -> dict:
    with urllib.request.urlopen(f"{emu.url}/metrics") as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(families, name, suffix=""):
    return [s for s in families[name].samples if s.name == name + suffix]


@pytest.fixture
def emu(make_emulator):
    emu = make_emulator(CLUSTER)
    emu.call(lambda rt: rt.metrics.tick())
    return emu


def test_exposition_has_istio_standard_metrics(emu):
    families = _scrape(emu)
    assert families["istio_requests"].type == "counter"
    assert families["istio_request_duration_milliseconds"].type == "histogram"
    assert families["pilot_proxy_convergence_time"].type == "histogram"
    pushes = {(s.labels["type"], s.labels["revision"]) for s in families["pilot_xds_pushes"].samples}
    assert pushes == {("cds", "default"), ("eds", "default"), ("lds", "default"), ("rds", "default")}
    buckets = {s.labels["le"] for s in _samples(families, "istio_request_duration_milliseconds", "_bucket")}
    assert {"0.5", "1.0", "5.0", "10.0", "25.0", "50.0", "100.0", "250.0", "500.0", "1000.0", "+Inf"} <= buckets


def _front_requests(emu) -> float:
    return sum(s.value for s in _samples(_scrape(emu), "istio_requests", "_total")
               if s.labels["destination_workload"] == "front")


def test_requests_carry_source_and_destination_revisions(emu):
    samples = _samples(_scrape(emu), "istio_requests", "_total")
    dests = {(s.labels["destination_workload"], s.labels["destination_version"], s.labels["source_version"])
             for s in samples}
    assert dests == {("front", "default", "default"), ("back", "default", "default")}
    assert {s.labels["response_code"] for s in samples} == {"200"}
    before = _front_requests(emu)
    emu.call(lambda rt: rt.metrics.tick())
    assert _front_requests(emu) - before == 20  # 10 requests per ready pod per tick, two pods


def test_error_rate_and_latency_are_injectable_per_revision(emu):
    emu.set_faults({"metrics": {"error_rate": {"default": 0.5}, "p99_ms": {"default": 2000}}})
    for _ in range(5):
        emu.call(lambda rt: rt.metrics.tick())
    families = _scrape(emu)
    samples = _samples(families, "istio_requests", "_total")
    errors = sum(s.value for s in samples if s.labels["response_code"] == "503")
    total = sum(s.value for s in samples)
    assert 0.3 < errors / total < 0.6  # half of the 5 faulty ticks, plus the healthy first one
    slow = sum(s.value for s in _samples(families, "istio_request_duration_milliseconds", "_bucket")
               if s.labels["le"] == "250.0")
    count = sum(s.value for s in _samples(families, "istio_request_duration_milliseconds", "_count"))
    assert slow / count < 0.6  # most requests now take longer than 250 ms


def test_traffic_follows_the_pods_revision(emu):
    from engine.emulator.istio_objects import control_plane_objects
    from kubernetes import client
    from .conftest import api_client, wait_until
    emu.call(lambda rt: [rt.create_object(o) for o in control_plane_objects("canary", "1.20.0", gateway=False)])
    api = api_client(emu)
    apps = client.AppsV1Api(api)
    wait_until(lambda: apps.read_namespaced_deployment("istiod-canary", "istio-system").status.ready_replicas)
    client.CoreV1Api(api).patch_namespace("apps", {"metadata": {"labels": {"istio-injection": None,
                                                                           "istio.io/rev": "canary"}}})
    apps.patch_namespaced_deployment("back", "apps", {"spec": {"template": {"metadata": {"labels": {"r": "1"}}}}})
    wait_until(lambda: (apps.read_namespaced_deployment("back", "apps").status.updated_replicas == 1
                        and apps.read_namespaced_deployment("back", "apps").status.replicas == 1
                        and apps.read_namespaced_deployment("back", "apps").status.ready_replicas == 1))
    emu.call(lambda rt: rt.metrics.tick())
    families = _scrape(emu)
    versions = {s.labels["destination_version"] for s in _samples(families, "istio_requests", "_total")
                if s.labels["destination_workload"] == "back"}
    assert versions == {"default", "canary"}
    assert ("cds", "canary") in {(s.labels["type"], s.labels["revision"]) for s in families["pilot_xds_pushes"].samples}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus package) is not installed")
def test_promtool_parses_the_exposition(emu):
    with urllib.request.urlopen(f"{emu.url}/metrics") as resp:
        text = resp.read()
    proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
    # Exit 3 is lint advice only; the one piece of advice is about Istio's own metric name, kept on purpose.
    assert proc.returncode in (0, 3), proc.stderr
    advice = [line for line in (proc.stdout + proc.stderr).decode().splitlines() if line.strip()]
    assert all('use base unit "seconds" instead of "milliseconds"' in line for line in advice), advice
