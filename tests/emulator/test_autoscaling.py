"""HorizontalPodAutoscaler status follows its target's replicas (the emulator never scales on load)."""
from kubernetes import client

from .conftest import SMALL, api_client, wait_until

HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
       "metadata": {"name": "web", "namespace": "apps"},
       "spec": {"minReplicas": 2, "maxReplicas": 5,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "metrics": [{"type": "Resource", "resource": {
                    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}


def test_hpa_reports_its_targets_replicas_and_a_cpu_reading(make_emulator):
    emu = make_emulator({**SMALL, "objects": [HPA]})
    api = api_client(emu)
    auto = client.AutoscalingV2Api(api)
    st = auto.read_namespaced_horizontal_pod_autoscaler("web", "apps").status
    assert (st.current_replicas, st.desired_replicas) == (2, 2)
    assert st.current_metrics[0].resource.current.average_utilization == 3
    assert {c.type: c.status for c in st.conditions} == {"AbleToScale": "True", "ScalingActive": "True"}
    client.AppsV1Api(api).patch_namespaced_deployment_scale("web", "apps", {"spec": {"replicas": 3}})
    wait_until(lambda: auto.read_namespaced_horizontal_pod_autoscaler("web", "apps").status.current_replicas == 3)
    client.AppsV1Api(api).delete_namespaced_deployment("web", "apps")
    wait_until(lambda: auto.read_namespaced_horizontal_pod_autoscaler("web", "apps").status.conditions[0].reason
               == "FailedGetScale")
