"""Endpoints and EndpointSlices follow the pods a Service selects and their readiness."""
from kubernetes import client

from .conftest import api_client, wait_until


def _addresses(core, name="web"):
    ep = core.read_namespaced_endpoints(name, "apps")
    ready = [a.ip for s in ep.subsets or [] for a in s.addresses or []]
    not_ready = [a.ip for s in ep.subsets or [] for a in s.not_ready_addresses or []]
    return sorted(ready), sorted(not_ready)


def test_endpoints_list_ready_pods_and_follow_the_selector(make_emulator):
    emu = make_emulator()
    api = api_client(emu)
    core = client.CoreV1Api(api)
    pod_ips = sorted(p.status.pod_ip for p in core.list_namespaced_pod("apps").items)
    assert _addresses(core) == (pod_ips, [])
    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        "apps", label_selector="kubernetes.io/service-name=web").items
    assert sorted(a for e in slices[0].endpoints for a in e.addresses) == pod_ips
    core.patch_namespaced_service("web", "apps", {"spec": {"selector": {"istio.io/rev": "1-20-0"}}})
    wait_until(lambda: _addresses(core) == ([], []))


def test_a_pod_that_is_not_ready_is_listed_as_not_ready(make_emulator):
    emu = make_emulator(faults={"stuck_rollouts": [{"namespace": "apps", "deployment": "web"}]})
    core = client.CoreV1Api(api_client(emu))
    client.AppsV1Api(api_client(emu)).patch_namespaced_deployment("web", "apps", {"spec": {"template": {
        "metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}}}}})
    ready, not_ready = wait_until(lambda: _addresses(core)[1] and _addresses(core))
    assert len(ready) == 2 and len(not_ready) == 1
