"""The object set of an Istio install, which the injector and the istioctl/helm stand-ins rely on."""
from engine.emulator.istio_objects import control_plane_objects, tag_webhook


def _names(objs, kind):
    return sorted(o["metadata"]["name"] for o in objs if o["kind"] == kind)


def test_default_revision_objects_have_no_suffix():
    objs = control_plane_objects("default", "1.19.3")
    assert _names(objs, "Deployment") == ["istio-ingressgateway", "istiod"]
    assert _names(objs, "MutatingWebhookConfiguration") == ["istio-sidecar-injector"]
    assert _names(objs, "ValidatingWebhookConfiguration") == ["istio-validator-istio-system",
                                                              "istiod-default-validator"]
    assert _names(objs, "ConfigMap") == ["istio", "istio-sidecar-injector"]
    (iop,) = [o for o in objs if o["kind"] == "IstioOperator"]
    assert iop["metadata"]["name"] == "installed-state" and "revision" not in iop["spec"]


def test_revisioned_objects_are_suffixed_and_labelled():
    objs = control_plane_objects("1-20-0", "1.20.0", values={"pilot": {"replicaCount": 2}})
    istiod = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "istiod-1-20-0")
    assert istiod["spec"]["replicas"] == 2
    assert istiod["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/istio/pilot:1.20.0"
    owned = [o for o in objs if (o["metadata"].get("labels") or {}).get("istio.io/rev") == "1-20-0"]
    assert {o["kind"] for o in owned} >= {"Deployment", "Service", "ConfigMap", "MutatingWebhookConfiguration",
                                          "HorizontalPodAutoscaler", "PodDisruptionBudget", "IstioOperator"}
    webhook = next(o for o in objs if o["kind"] == "MutatingWebhookConfiguration")
    selectors = [w["namespaceSelector"] for w in webhook["webhooks"]]
    assert {"key": "istio.io/rev", "operator": "In", "values": ["1-20-0"]} in selectors[0]["matchExpressions"]
    # Only the default revision answers istio-injection=enabled.
    assert all("enabled" not in str(s) for s in selectors)


def test_minimal_profile_has_no_gateway():
    objs = control_plane_objects("1-20-0", "1.20.0", profile="minimal")
    assert _names(objs, "Deployment") == ["istiod-1-20-0"]


def test_default_tag_webhook_points_at_revision_and_answers_istio_injection():
    hook = tag_webhook("default", "1-20-0")
    assert hook["metadata"]["name"] == "istio-revision-tag-default"
    assert hook["metadata"]["labels"]["istio.io/rev"] == "1-20-0"
    services = {w["clientConfig"]["service"]["name"] for w in hook["webhooks"]}
    assert services == {"istiod-1-20-0"}
    assert any(w["namespaceSelector"] == {"matchExpressions": [
        {"key": "istio-injection", "operator": "In", "values": ["enabled"]}]} for w in hook["webhooks"])
