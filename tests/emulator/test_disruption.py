"""PodDisruptionBudget status follows the healthy pods it selects."""
from kubernetes import client

from .conftest import SMALL, api_client, wait_until

PDB = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
       "metadata": {"name": "web", "namespace": "apps"},
       "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}


def _status(policy, name="web", ns="apps"):
    st = policy.read_namespaced_pod_disruption_budget(name, ns).status
    return st.expected_pods, st.current_healthy, st.desired_healthy, st.disruptions_allowed


def test_pdb_status_counts_healthy_pods(make_emulator):
    emu = make_emulator({**SMALL, "objects": [PDB]})
    api = api_client(emu)
    policy = client.PolicyV1Api(api)
    assert _status(policy) == (2, 2, 1, 1)
    assert _status(policy, "istiod", "istio-system") == (1, 1, 1, 0)
    client.AppsV1Api(api).patch_namespaced_deployment_scale("web", "apps", {"spec": {"replicas": 4}})
    wait_until(lambda: _status(policy) == (4, 4, 1, 3))
