"""Each fault, injected, as a client sees it."""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest
import yaml
from kubernetes import client

from engine.emulator import FaultError

from .conftest import api_client, kubectl, needs_kubectl


@pytest.fixture
def emu(make_emulator):
    return make_emulator()


def _put_faults(emu, faults) -> tuple[int, dict]:
    req = urllib.request.Request(f"{emu.url}/emulator/v1/faults", data=json.dumps(faults).encode(), method="PUT",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_api_error_rule_fails_matching_calls_then_stops(emu):
    core = client.CoreV1Api(api_client(emu))
    emu.set_faults({"api_errors": [{"path": "^/api/v1/namespaces/apps$", "method": "PATCH", "status": 500,
                                    "times": 2}]})
    for _ in range(2):
        with pytest.raises(client.ApiException) as err:
            core.patch_namespace("apps", {"metadata": {"labels": {"a": "b"}}})
        assert err.value.status == 500
        body = json.loads(err.value.body)
        assert (body["kind"], body["reason"], body["code"]) == ("Status", "InternalError", 500)
    core.read_namespace("apps")  # other methods are untouched
    assert core.patch_namespace("apps", {"metadata": {"labels": {"a": "b"}}}).metadata.labels["a"] == "b"


def test_api_error_rule_can_start_after_some_calls(emu):
    core = client.CoreV1Api(api_client(emu))
    emu.set_faults({"api_errors": [{"path": "/namespaces/apps$", "status": 503, "after": 1}]})
    core.read_namespace("apps")
    with pytest.raises(client.ApiException) as err:
        core.read_namespace("apps")
    assert err.value.status == 503


def test_timeout_rule_hangs_until_the_client_gives_up(emu):
    core = client.CoreV1Api(api_client(emu))
    emu.set_faults({"api_errors": [{"path": "/api/v1/namespaces/apps$", "timeout": True, "timeout_seconds": 10}]})
    start = time.monotonic()
    with pytest.raises(Exception) as err:
        core.read_namespace("apps", _request_timeout=0.5)
    assert "timed out" in str(err.value).lower()
    # The client gave up on its own (urllib3 retries included) long before the server would have answered.
    assert 0.4 < time.monotonic() - start < 5


def test_latency_is_added_to_every_call(emu):
    core = client.CoreV1Api(api_client(emu))
    emu.set_faults({"latency_ms": 1000})
    start = time.monotonic()
    core.read_namespace("apps")
    assert time.monotonic() - start >= 1.0
    emu.set_faults({})
    start = time.monotonic()
    core.read_namespace("apps")
    assert time.monotonic() - start < 1.0  # generous: a loaded CI machine is slow, but not a second slow


@needs_kubectl
def test_kubectl_sees_a_500(emu):
    emu.set_faults({"api_errors": [{"path": "/namespaces/apps/deployments", "method": "GET", "status": 500,
                                    "message": "etcd is sad"}]})
    proc = kubectl(emu, "get", "deployments", "-n", "apps", check=False)
    assert proc.returncode == 1
    assert "Error from server (InternalError)" in proc.stderr and "etcd is sad" in proc.stderr


def test_faults_over_http_are_mirrored_into_the_configmap(emu):
    faults = {"istiod_never_ready": ["1-20-0"],
              "command_failures": [{"tool": "istioctl", "args": ["x", "precheck"], "exit_code": 1}]}
    status, body = _put_faults(emu, faults)
    assert status == 200 and body["istiod_never_ready"] == ["1-20-0"]
    cm = client.CoreV1Api(api_client(emu)).read_namespaced_config_map("playbook-emulator-faults", "kube-system")
    mirrored = yaml.safe_load(cm.data["faults.yaml"])
    assert mirrored["command_failures"] == faults["command_failures"]
    assert emu.faults["istiod_never_ready"] == ["1-20-0"]


def test_malformed_faults_are_refused_with_the_reason(emu):
    status, body = _put_faults(emu, {"istiod_never_rdy": ["x"]})
    assert status == 400 and "unknown fault key(s): istiod_never_rdy" in body["message"]
    with pytest.raises(FaultError, match=r"api_errors\[0\] needs a path"):
        emu.set_faults({"api_errors": [{"status": 500}]})


def test_faults_from_the_cluster_file_apply_from_the_start(make_emulator):
    cluster = {"namespaces": ["apps"], "faults": {"latency_ms": 200}}
    emu = make_emulator(cluster)
    start = time.monotonic()
    client.CoreV1Api(api_client(emu)).read_namespace("apps")
    assert time.monotonic() - start >= 0.2


def test_writing_the_faults_configmap_sets_the_live_faults(emu):
    core = client.CoreV1Api(api_client(emu))
    block = {"latency_ms": 250, "stale_proxies": [{"namespace": "apps", "types": ["EDS"]}]}
    core.patch_namespaced_config_map("playbook-emulator-faults", "kube-system",
                                     {"data": {"faults.yaml": yaml.safe_dump({"faults": block})}})
    assert emu.faults == block
    start = time.monotonic()
    core.read_namespace("apps")
    assert time.monotonic() - start >= 0.25
    core.patch_namespaced_config_map("playbook-emulator-faults", "kube-system",
                                     {"data": {"faults.yaml": "latency_ms: [oops]\n"}})
    assert emu.faults == block  # a block that does not parse leaves the live faults as they were
    warning = [e for e in core.list_namespaced_event("kube-system").items if e.reason == "InvalidFaults"]
    assert warning and warning[0].involved_object.name == "playbook-emulator-faults"
