"""`prometheus` as a metric gate: the seed's own PromQL (success rate and p99 latency by revision) against a
real Prometheus on loopback that scrapes the emulator's /metrics; the result judging alone is table-tested."""
from __future__ import annotations

import contextlib
import json
import math
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from engine.plugins.prometheus import judge, series_of

# From the reference procedure's validation dashboard, as written there.
SUCCESS_RATE = ('sum(rate(istio_requests_total{response_code=~"2.."}[5m])) by (source_version) / '
                'sum(rate(istio_requests_total[5m])) by (source_version) * 100')
P99_LATENCY = ("histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket[5m])) "
               "by (le, source_version))")

PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None, reason="no prometheus binary (Debian package `prometheus`; .ci/run installs it as root)")

# Two workloads in one namespace, so requests have a source proxy whose revision labels them.
CLUSTER = {
    "readiness_delay": 0.05,
    "istio": [{"revision": "default", "version": "1.19.3", "gateway": False}],
    "namespaces": [{"name": "shop", "labels": {"istio-injection": "enabled"},
                    "deployments": [{"name": "frontend", "replicas": 1}, {"name": "backend", "replicas": 1}]}],
}


@pytest.mark.parametrize("data,expected", [
    ({"resultType": "vector", "result": [{"metric": {"source_version": "a"}, "value": [1, "99.5"]}]},
     [({"source_version": "a"}, 99.5)]),
    ({"resultType": "scalar", "result": [1, "3"]}, [({}, 3.0)]),
    ({"resultType": "matrix", "result": [{"metric": {}, "values": [[1, "1"], [2, "2"]]}]}, [({}, 2.0)]),
    ({"resultType": "vector", "result": []}, []),
])
def test_series_of_each_result_type(data, expected):
    assert series_of(data) == expected


@pytest.mark.parametrize("value,low,high,problem", [
    (99.5, 99, None, None),
    (98.0, 99, None, "{rev=a} = 98 < min 99"),
    (450.0, None, 500, None),
    (900.0, None, 500, "{rev=a} = 900 > max 500"),
    (math.nan, 99, None, "{rev=a} is NaN (no traffic in the window?)"),
])
def test_every_series_must_lie_within_bounds(value, low, high, problem):
    assert judge([({"rev": "a"}, value)], low, high) == ([problem] if problem else [])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _query(url: str, promql: str) -> list:
    with urllib.request.urlopen(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}),
                                timeout=5) as resp:
        return json.loads(resp.read())["data"]["result"]


@contextlib.contextmanager
def scraped_mesh(tmp_path, faults=None):
    """An emulator (with faults) scraped every 0.5 s by a real Prometheus; yields (Prometheus URL, emulator)."""
    from engine.emulator import Emulator
    with Emulator(cluster=CLUSTER, faults=faults, state_dir=tmp_path / "emu") as emu:
        port = _free_port()
        target = emu.url.split("//", 1)[1]
        config = tmp_path / "prometheus.yml"
        config.write_text(f"global: {{scrape_interval: 500ms, evaluation_interval: 500ms}}\n"
                          f"scrape_configs:\n  - job_name: mesh\n    static_configs: [{{targets: ['{target}']}}]\n")
        proc = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 30
            while time.time() < deadline:
                try:
                    # Both gates have a number once two scrapes saw the counters move (ticks are 1 s apart).
                    if all(r and r[0]["value"][1] != "NaN" for r in (_query(url, SUCCESS_RATE),
                                                                     _query(url, P99_LATENCY))):
                        break
                except OSError:
                    pass
                time.sleep(0.3)
            else:
                pytest.fail("Prometheus never had two scrapes of the emulator's metrics")
            yield url, emu
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    if PROMETHEUS is None:
        pytest.skip("no prometheus binary")
    with scraped_mesh(tmp_path_factory.mktemp("healthy")) as started:
        yield started


@pytest.fixture
def degraded_mesh(tmp_path):
    with scraped_mesh(tmp_path, {"metrics": {"error_rate": {"default": 0.3}, "p99_ms": {"default": 2000}}}) as started:
        yield started


GATES = """
version: 1
steps:
  - id: success-rate
    uses: prometheus
    with: {{url: "{url}", query: '{rate}', min: 99}}
    continue_on_error: true
  - id: p99
    uses: prometheus
    with: {{url: "{url}", query: "{p99}", max: 500}}
    continue_on_error: true
"""


@needs_prometheus
def test_a_healthy_mesh_passes_the_seed_gates(mesh, run_book):
    url, _ = mesh
    ran = run_book(GATES.format(url=url, rate=SUCCESS_RATE, p99=P99_LATENCY))
    rate, p99 = ran.outcome("success-rate"), ran.outcome("p99")
    assert rate.ok and p99.ok, (rate.message, p99.message)
    assert rate.message.startswith("within bounds: {source_version=default}=100")
    assert [s["labels"] for s in rate.outputs["series"]] == [{"source_version": "default"}]
    assert 0 < p99.outputs["value"] <= 500


@needs_prometheus
def test_a_degraded_revision_fails_both_gates_naming_it(degraded_mesh, run_book):
    url, _ = degraded_mesh
    ran = run_book(GATES.format(url=url, rate=SUCCESS_RATE, p99=P99_LATENCY))
    rate, p99 = ran.outcome("success-rate"), ran.outcome("p99")
    assert not rate.ok and not p99.ok
    assert rate.message.startswith("{source_version=default} = ") and "< min 99" in rate.message
    assert p99.message.startswith("{source_version=default} = ") and "> max 500" in p99.message


@needs_prometheus
def test_no_data_and_bad_queries_fail_with_the_reason(mesh, run_book):
    url, _ = mesh
    ran = run_book(f"""
        version: 1
        steps:
          - id: none
            uses: prometheus
            with: {{url: "{url}", query: 'istio_requests_total{{source_version="nope"}}', min: 1}}
            continue_on_error: true
          - id: none-ok
            uses: prometheus
            with: {{url: "{url}", query: 'istio_requests_total{{source_version="nope"}}', no_data: pass}}
          - id: typo
            uses: prometheus
            with: {{url: "{url}", query: "sum(rate(istio_requests_total[5m]) by", min: 1}}
            continue_on_error: true
    """)
    assert ran.outcome("none").message.startswith("no data (the gate needs data")
    assert ran.outcome("none-ok").ok
    assert ran.outcome("typo").message.startswith("prometheus: HTTP 400: ")
