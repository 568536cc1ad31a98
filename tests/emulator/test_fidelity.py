"""Real clients against the emulator where it once differed from an API server: every kubectl the machine
offers (1.27-1.33), the official Python client and real Helm v4. One emulator serves the whole module."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from engine.emulator import Emulator

from .conftest import SMALL, api_client, wait_until

KUBECTL_DIR = Path(os.path.realpath(shutil.which("kubectl"))).parent if shutil.which("kubectl") else None
VERSIONS = sorted((p.name.split("kubectl.")[1] for p in KUBECTL_DIR.glob("kubectl.1.*")),
                  key=lambda v: int(v.split(".")[1])) if KUBECTL_DIR else []
needs_versions = pytest.mark.skipif(not VERSIONS, reason="no versioned kubectl binaries beside kubectl")
CHART = Path(__file__).parent / "charts" / "shop"

WIDGET_CRD = (CHART / "crds" / "widgets.yaml").read_text()
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: NAME, namespace: apps}
spec:
  replicas: 1
  selector: {matchLabels: {app: NAME}}
  template:
    metadata: {labels: {app: NAME}}
    spec:
      containers: [{name: c, image: "nginx:1.25", ports: [{containerPort: 80}]}]
"""


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    emulator = Emulator(SMALL, state_dir=tmp_path_factory.mktemp("fidelity")).start()
    yield emulator
    emulator.stop()


def kubectl(emu: Emulator, version: str | None, *args: str, stdin: str | None = None, env: dict | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
    binary = str(KUBECTL_DIR / f"kubectl.{version}") if version else "kubectl"
    proc = subprocess.run([binary, *args], env={**os.environ, **emu.env(), **(env or {})}, capture_output=True,
                          text=True, timeout=60, input=stdin)
    if check:
        assert proc.returncode == 0, f"kubectl {version} {' '.join(args)}: {proc.stderr}"
    return proc


def raw(emu: Emulator, method: str, path: str, body: bytes | None = None,
        headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(emu.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# -- OpenAPI ----------------------------------------------------------------------------------------------
@needs_versions
@pytest.mark.parametrize("version", VERSIONS)
def test_explain_works_on_every_kubectl_version_for_built_in_and_custom_kinds(emu, version):
    kubectl(emu, None, "apply", "-f", "-", stdin=WIDGET_CRD)
    out = kubectl(emu, version, "explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in out or "FIELD:    replicas <integer>" in out
    assert "Number of desired pods" in out
    out = kubectl(emu, version, "explain", "widgets.spec.size").stdout
    assert "How big the widget is." in out


@needs_versions
@pytest.mark.parametrize("version", [v for v in VERSIONS if v in ("1.27", "1.28")] or ["1.27"])
def test_old_kubectl_applies_diffs_replaces_and_edits_with_openapi_v2(emu, version, tmp_path):
    name = f"old-{version.replace('.', '-')}"
    manifest = DEPLOYMENT.replace("NAME", name)
    assert "created" in kubectl(emu, version, "apply", "-f", "-", stdin=manifest).stdout
    changed = manifest.replace("replicas: 1", "replicas: 2")
    diff = kubectl(emu, version, "diff", "-f", "-", stdin=changed, check=False)
    assert diff.returncode == 1 and "+  replicas: 2" in diff.stdout, diff.stderr
    assert kubectl(emu, version, "diff", "-f", "-", stdin=manifest, check=False).returncode == 0
    kubectl(emu, version, "replace", "-f", "-", stdin=changed)
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/replicas: 2/replicas: 3/' \"$1\"\n")
    editor.chmod(0o755)
    kubectl(emu, version, "edit", "deployment", name, "-n", "apps", env={"KUBE_EDITOR": str(editor)})
    got = json.loads(kubectl(emu, version, "get", "deployment", name, "-n", "apps", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 3
    # A strategic three-way patch from the served schema keeps the container list merged by name.
    kubectl(emu, version, "apply", "-f", "-", stdin=manifest.replace("nginx:1.25", "nginx:1.26"))
    got = json.loads(kubectl(emu, version, "get", "deployment", name, "-n", "apps", "-o", "json").stdout)
    assert [c["image"] for c in got["spec"]["template"]["spec"]["containers"]] == ["nginx:1.26"]


def test_openapi_v2_is_served_as_json_and_as_the_protobuf_kubectl_asks_for(emu):
    status, body = raw(emu, "GET", "/openapi/v2", headers={"Accept": "application/json"})
    doc = json.loads(body)
    assert status == 200 and doc["swagger"] == "2.0"
    deployment = doc["definitions"]["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment",
                                                             "version": "v1"}]
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" in patch["consumes"]
    assert any(p["name"] == "fieldValidation" for p in patch["parameters"])
    req = urllib.request.Request(emu.url + "/openapi/v2",
                                 headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        assert resp.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
        assert resp.read()[:5] == b"\n\x032.0"  # field 1 (swagger) = "2.0"


def test_openapi_v3_lists_custom_resources_without_strategic_merge_patch(emu):
    kubectl(emu, None, "apply", "-f", "-", stdin=WIDGET_CRD)
    root = json.loads(raw(emu, "GET", "/openapi/v3")[1])
    url = root["paths"]["apis/shop.example.com/v1"]["serverRelativeURL"]
    doc = json.loads(raw(emu, "GET", url)[1])
    widget = doc["components"]["schemas"]["com.example.shop.v1.Widget"]
    assert widget["properties"]["spec"]["properties"]["size"]["type"] == "integer"
    patch = doc["paths"]["/apis/shop.example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert "application/merge-patch+json" in patch["requestBody"]["content"]


# -- Status bodies and DELETE answers ---------------------------------------------------------------------
def test_status_error_body_is_byte_identical_to_the_api_servers(emu):
    status, body = raw(emu, "GET", "/api/v1/namespaces/apps/configmaps/nope")
    assert status == 404
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":'
                    b'"configmaps \\"nope\\" not found","reason":"NotFound","details":{"name":"nope",'
                    b'"kind":"configmaps"},"code":404}\n')
    status, body = raw(emu, "GET", "/apis/apps/v1/namespaces/apps/deployments/nope")
    assert body.endswith(b'"details":{"name":"nope","group":"apps","kind":"deployments"},"code":404}\n')
    status, body = raw(emu, "GET", "/apis/apps/v1/namespaces/apps/nothings")
    assert body == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"the server '
                    b'could not find the requested resource","reason":"NotFound","details":{},"code":404}\n')


def test_invalid_status_keeps_the_api_servers_key_order(emu):
    body = json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "Bad_Name"},
                       "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                           "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c",
                                                                                        "image": "i"}]}}}})
    status, out = raw(emu, "POST", "/apis/apps/v1/namespaces/apps/deployments", body.encode(),
                      {"Content-Type": "application/json"})
    doc = json.loads(out)
    assert status == 422 and list(doc) == ["kind", "apiVersion", "metadata", "status", "message", "reason",
                                           "details", "code"]
    assert list(doc["details"]) == ["name", "group", "kind", "causes"]
    assert list(doc["details"]["causes"][0]) == ["reason", "message", "field"]


# (kind, the Python client's delete, whether the API server answers with the object rather than a Status)
DELETES = [
    ("Service", lambda a: client.CoreV1Api(a).delete_namespaced_service("del-svc", "apps"), True),
    ("ServiceAccount", lambda a: client.CoreV1Api(a).delete_namespaced_service_account("del-sa", "apps"), True),
    ("Pod", lambda a: client.CoreV1Api(a).delete_namespaced_pod("del-pod", "apps"), True),
    ("ConfigMap", lambda a: client.CoreV1Api(a).delete_namespaced_config_map("del-cm", "apps"), False),
    ("Secret", lambda a: client.CoreV1Api(a).delete_namespaced_secret("del-secret", "apps"), False),
    ("Deployment", lambda a: client.AppsV1Api(a).delete_namespaced_deployment("del-deploy", "apps"), False),
    ("Widget", lambda a: client.CustomObjectsApi(a).delete_namespaced_custom_object(
        "shop.example.com", "v1", "apps", "widgets", "del-widget"), False),
]
OBJECTS = {
    "Service": "apiVersion: v1\nkind: Service\nmetadata: {name: del-svc, namespace: apps}\n"
               "spec: {ports: [{port: 80}]}\n",
    "ServiceAccount": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: del-sa, namespace: apps}\n",
    "Pod": "apiVersion: v1\nkind: Pod\nmetadata: {name: del-pod, namespace: apps, labels: "
           "{sidecar.istio.io/inject: 'false'}}\nspec: {containers: [{name: c, image: nginx}]}\n",
    "ConfigMap": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: del-cm, namespace: apps}\n",
    "Secret": "apiVersion: v1\nkind: Secret\nmetadata: {name: del-secret, namespace: apps}\n",
    "Deployment": DEPLOYMENT.replace("NAME", "del-deploy"),
    "Widget": "apiVersion: shop.example.com/v1\nkind: Widget\nmetadata: {name: del-widget, namespace: apps}\n"
              "spec: {size: 1}\n",
}


@pytest.mark.parametrize("kind,delete,returns_object", DELETES, ids=[d[0] for d in DELETES])
def test_delete_answers_like_the_api_servers_store_for_each_kind(emu, kind, delete, returns_object):
    kubectl(emu, None, "apply", "-f", "-", stdin=WIDGET_CRD)
    kubectl(emu, None, "apply", "-f", "-", stdin=OBJECTS[kind])
    with api_client(emu) as api:
        answer = delete(api)
    doc = answer if isinstance(answer, dict) else api.sanitize_for_serialization(answer)
    if returns_object:
        assert doc["kind"] == kind and doc["metadata"]["name"].startswith("del-")
    else:
        assert doc["kind"] == "Status" and doc["status"] == "Success" and "code" not in doc
        assert doc["details"]["name"].startswith("del-") and doc["details"]["uid"]


def test_delete_status_details_are_in_the_api_servers_order(emu):
    kubectl(emu, None, "apply", "-f", "-", stdin=DEPLOYMENT.replace("NAME", "order"))
    status, body = raw(emu, "DELETE", "/apis/apps/v1/namespaces/apps/deployments/order")
    doc = json.loads(body)
    assert status == 200 and list(doc) == ["kind", "apiVersion", "metadata", "status", "details"]
    assert list(doc["details"]) == ["name", "group", "kind", "uid"]
    assert body.endswith(b"}\n")


# -- Helm v4 (helm-python-sdk embeds it) ------------------------------------------------------------------
def test_helm_installs_upgrades_rolls_back_and_uninstalls_a_chart_leaving_no_release_secrets(emu):
    helm = pytest.importorskip("helm_python", reason="the helm-python-sdk test dependency embeds Helm v4")
    core = lambda a: client.CoreV1Api(a)  # noqa: E731
    with api_client(emu) as api, helm.Config(kubeconfig_path=str(emu.kubeconfig), namespace="default") as cfg:
        cfg.install(str(CHART), "shop", {}, namespace="default", wait="watcher", timeout=60)
        config = core(api).read_namespaced_config_map("shop-config", "default")
        assert config.data == {"greeting": "hello"}
        # Helm v4 writes with server-side apply: its manager owns what the chart rendered.
        assert [(m.operation, list(m.fields_v1["f:data"])) for m in config.metadata.managed_fields] == [
            ("Apply", ["f:greeting"])]
        cfg.upgrade(str(CHART), "shop", {"greeting": "hi", "replicas": 3}, namespace="default", wait="watcher",
                    timeout=60)
        deploy = client.AppsV1Api(api).read_namespaced_deployment("shop-web", "default")
        assert deploy.spec.replicas == 3
        cfg.rollback("shop", version=1, wait="watcher", timeout=60)
        assert core(api).read_namespaced_config_map("shop-config", "default").data == {"greeting": "hello"}
        releases = [s.metadata.name for s in core(api).list_namespaced_secret(
            "default", label_selector="owner=helm,name=shop").items]
        assert releases == ["sh.helm.release.v1.shop.v1", "sh.helm.release.v1.shop.v2",
                            "sh.helm.release.v1.shop.v3"]
        assert cfg.uninstall("shop", wait="watcher", timeout=60)["release"]["status"] == "uninstalled"
        assert core(api).list_namespaced_secret("default", label_selector="owner=helm").items == []
        for read in (lambda: core(api).read_namespaced_config_map("shop-config", "default"),
                     lambda: core(api).read_namespaced_service("shop-web", "default"),
                     lambda: client.AppsV1Api(api).read_namespaced_deployment("shop-web", "default"),
                     lambda: client.RbacAuthorizationV1Api(api).read_cluster_role("shop-widgets")):
            with pytest.raises(client.ApiException) as err:
                read()
            assert err.value.status == 404
        # Helm keeps the CRDs it installed from crds/.
        assert client.ApiextensionsV1Api(api).read_custom_resource_definition("widgets.shop.example.com")


def test_a_protobuf_delete_options_body_is_read(emu):
    kubectl(emu, None, "create", "configmap", "pb-delete", "-n", "apps")
    # DeleteOptions{propagationPolicy: "Foreground"} in the k8s protobuf envelope, as client-go sends it.
    type_meta = b"\n\x02v1\x12\rDeleteOptions"
    message = b"\"\nForeground"
    body = b"k8s\x00" + b"\n" + bytes([len(type_meta)]) + type_meta + b"\x12" + bytes([len(message)]) + message
    status, out = raw(emu, "DELETE", "/api/v1/namespaces/apps/configmaps/pb-delete", body,
                      {"Content-Type": "application/vnd.kubernetes.protobuf"})
    assert status == 200 and json.loads(out)["status"] == "Success"


# -- lesser commands ----------------------------------------------------------------------------------------
def test_logs_previous_of_a_container_that_never_restarted_is_a_400(emu):
    pod = json.loads(kubectl(emu, None, "get", "pods", "-n", "apps", "-l", "app=web", "-o", "json").stdout)["items"][0]
    proc = kubectl(emu, None, "logs", "-n", "apps", pod["metadata"]["name"], "-c", "istio-proxy", "--previous",
                   check=False)
    assert proc.returncode == 1
    assert (f'previous terminated container "istio-proxy" in pod "{pod["metadata"]["name"]}" not found'
            in proc.stderr)
    status, body = raw(emu, "GET", f"/api/v1/namespaces/apps/pods/{pod['metadata']['name']}/log"
                                   "?container=istio-proxy&previous=true")
    assert status == 400 and json.loads(body)["reason"] == "BadRequest"


@needs_versions
@pytest.mark.parametrize("version", VERSIONS)
def test_auth_whoami_and_can_i_list_answer_on_every_kubectl_version(emu, version):
    out = kubectl(emu, version, "auth", "whoami", "-o", "json").stdout
    assert json.loads(out)["status"]["userInfo"]["username"] == "emulator-admin"
    rules = kubectl(emu, version, "auth", "can-i", "--list", "-n", "apps").stdout.splitlines()
    assert rules[0].split() == ["Resources", "Non-Resource", "URLs", "Resource", "Names", "Verbs"]
    assert rules[1].split() == ["*.*", "[]", "[]", "[*]"]
    assert kubectl(emu, version, "auth", "can-i", "delete", "pods", "-n", "apps").stdout.strip() == "yes"


# -- the emulator as a local server (issue 10, item 9) --------------------------------------------------------
CM = "/api/v1/namespaces/apps/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/apps/deployments"
BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(9)) + \
    b"kind: ConfigMap\napiVersion: v1\nmetadata: {name: bomb}\n"


def _deployment(**spec: object) -> bytes:
    base = json.loads(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "typed"},
                                  "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                                      "metadata": {"labels": {"a": "b"}},
                                      "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    base["spec"].update(spec)
    return json.dumps(base).encode()


# (what, method, path, body, headers, status, reason, message fragment)
BAD_REQUESTS = [
    ("a text/plain body, as a web page's form can send", "POST", CM,
     b'{"metadata":{"name":"web"}}', {"Content-Type": "text/plain"}, 415, "UnsupportedMediaType",
     "accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"),
    ("a form body", "POST", CM, b"metadata=x", {"Content-Type": "application/x-www-form-urlencoded"}, 415,
     "UnsupportedMediaType", "unknown format"),
    ("a multipart body", "PUT", CM + "/x", b"--b--", {"Content-Type": "multipart/form-data; boundary=b"}, 415,
     "UnsupportedMediaType", "unknown format"),
    ("a patch that is not a patch type", "PATCH", CM + "/x", b"{}", {"Content-Type": "application/json"}, 415,
     "UnsupportedMediaType", "application/json-patch+json"),
    ("a request from a page of another origin", "POST", CM, b'{"metadata":{"name":"web"}}',
     {"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "Forbidden", "another origin"),
    ("a browser's cross-site fetch", "GET", CM, None, {"Sec-Fetch-Site": "cross-site"}, 403, "Forbidden",
     "another origin"),
    ("a page on a name rebound to the emulator's address", "GET", CM, None, {"Host": "rebound.example"}, 403,
     "Forbidden", "another origin"),
    ("a YAML alias bomb", "POST", CM, BOMB, {"Content-Type": "application/yaml"}, 400, "BadRequest",
     "excessive aliasing"),
    ("JSON nested far too deep", "POST", CM, b'{"metadata":{"name":"deep"},"data":' + b"[" * 5000 + b"]" * 5000
     + b"}", {"Content-Type": "application/json"}, 400, "BadRequest", "depth"),
    ("a body over the API server's 3 MiB limit", "POST", CM, b'{"data":{"a":"' + b"x" * (3 * 1024 * 1024) + b'"}}',
     {"Content-Type": "application/json"}, 413, "RequestEntityTooLarge", "limit is 3145728"),
    ("malformed JSON", "POST", CM, b'{"metadata":', {"Content-Type": "application/json"}, 400, "BadRequest",
     "json parse error"),
    ("replicas as a string", "POST", DEPLOYMENTS, _deployment(replicas="three"),
     {"Content-Type": "application/json"}, 400, "BadRequest",
     'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go '
     "struct field DeploymentSpec.spec.replicas of type int32"),
    ("metadata as a list", "POST", DEPLOYMENTS, json.dumps({"kind": "Deployment", "metadata": []}).encode(),
     {"Content-Type": "application/json"}, 400, "BadRequest",
     "cannot unmarshal array into Go struct field Deployment.metadata of type v1.ObjectMeta"),
    ("a label value that is a number", "POST", CM, b'{"metadata":{"name":"n","labels":{"a":1}}}',
     {"Content-Type": "application/json"}, 400, "BadRequest",
     "cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string"),
    ("containers as an object", "POST", DEPLOYMENTS, _deployment(template={"spec": {"containers": {}}}),
     {"Content-Type": "application/json"}, 400, "BadRequest",
     "cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"),
    ("a port that is a bool", "POST", "/api/v1/namespaces/apps/services",
     b'{"metadata":{"name":"s"},"spec":{"ports":[{"port":true}]}}', {"Content-Type": "application/json"}, 400,
     "BadRequest", "cannot unmarshal bool into Go struct field ServicePort.spec.ports.port of type int32"),
    ("a wrongly typed field in a patch", "PATCH", DEPLOYMENTS + "/web", b'{"spec":{"replicas":"many"}}',
     {"Content-Type": "application/merge-patch+json"}, 400, "BadRequest", "DeploymentSpec.spec.replicas"),
    ("an unknown field under fieldValidation=Strict", "POST", DEPLOYMENTS + "?fieldValidation=Strict",
     _deployment(replica=3), {"Content-Type": "application/json"}, 400, "BadRequest",
     'cannot be handled as a Deployment: strict decoding error: unknown field "spec.replica"'),
    ("a million replicas", "POST", DEPLOYMENTS, _deployment(replicas=1_000_000),
     {"Content-Type": "application/json"}, 422, "Invalid",
     "spec.replicas: Invalid value: 1000000: must be less than or equal to 1000"),
    ("scaling to a million replicas", "PATCH", DEPLOYMENTS + "/web/scale", b'{"spec":{"replicas":1000000}}',
     {"Content-Type": "application/merge-patch+json"}, 422, "Invalid", "less than or equal to 1000"),
]


@pytest.mark.parametrize("what,method,path,body,headers,status,reason,message", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
def test_bad_requests_get_a_status_error_never_a_500(emu, what, method, path, body, headers, status, reason,
                                                     message):
    got, out = raw(emu, method, path, body, headers)
    doc = json.loads(out)
    assert (got, doc["kind"], doc["reason"], doc["code"]) == (status, "Status", reason, status), doc
    assert message in doc["message"]


def test_the_store_refuses_objects_beyond_its_limit(emu, monkeypatch):
    from engine.emulator import limits
    monkeypatch.setattr(limits, "MAX_OBJECTS", 0)
    got, out = raw(emu, "POST", CM, b'{"metadata":{"name":"one-too-many"}}', {"Content-Type": "application/json"})
    doc = json.loads(out)
    assert got == 422 and doc["reason"] == "Invalid" and "the emulator holds at most 0 objects" in doc["message"]


# -- server-side apply with field ownership ----------------------------------------------------------------------
def _ns(name: str, labels: dict) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})


@needs_versions
@pytest.mark.parametrize("version", VERSIONS)
def test_reapplying_without_a_label_removes_it_and_conflicts_need_force(emu, version):
    ns = f"ssa-{version.replace('.', '-')}"
    kubectl(emu, version, "apply", "--server-side", "-f", "-", stdin=_ns(ns, {"istio-injection": "enabled"}))
    kubectl(emu, version, "apply", "--server-side", "-f", "-", stdin=_ns(ns, {"istio.io/rev": "canary"}))
    labels = json.loads(kubectl(emu, version, "get", "ns", ns, "-o", "json").stdout)["metadata"]["labels"]
    assert labels == {"istio.io/rev": "canary", "kubernetes.io/metadata.name": ns}
    kubectl(emu, version, "label", "ns", ns, "team=a")
    refused = kubectl(emu, version, "apply", "--server-side", "-f", "-", check=False,
                      stdin=_ns(ns, {"istio.io/rev": "canary", "team": "b"}))
    assert refused.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl-label" using v1: .metadata.labels.team' in \
        refused.stderr
    kubectl(emu, version, "apply", "--server-side", "--force-conflicts", "-f", "-",
            stdin=_ns(ns, {"istio.io/rev": "canary", "team": "b"}))
    got = json.loads(kubectl(emu, version, "get", "ns", ns, "-o", "json", "--show-managed-fields").stdout)
    assert got["metadata"]["labels"]["team"] == "b"
    # Forced, the field moved to the applier; kubectl-label owned nothing else, so its entry is gone.
    assert [(m["manager"], m["operation"]) for m in got["metadata"]["managedFields"]] == [("kubectl", "Apply")]
    assert got["metadata"]["managedFields"][0]["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:istio.io/rev": {}, "f:team": {}}}}


def test_a_conflict_is_the_api_servers_409_status(emu):
    kubectl(emu, None, "create", "configmap", "owned", "-n", "apps", "--from-literal=mode=a")
    body = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "owned", "namespace": "apps"},
                       "data": {"mode": "b"}}).encode()
    path = "/api/v1/namespaces/apps/configmaps/owned?fieldManager=deployer"
    status, out = raw(emu, "PATCH", path, body, {"Content-Type": "application/apply-patch+yaml"})
    assert status == 409
    assert out == (b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Apply failed '
                   b'with 1 conflict: conflict with \\"kubectl-create\\" using v1: .data.mode","reason":"Conflict",'
                   b'"details":{"causes":[{"reason":"FieldManagerConflict","message":"conflict with '
                   b'\\"kubectl-create\\" using v1","field":".data.mode"}]},"code":409}\n')
    status, _ = raw(emu, "PATCH", path + "&force=true", body, {"Content-Type": "application/apply-patch+yaml"})
    assert status == 200
    status, out = raw(emu, "PATCH", "/api/v1/namespaces/apps/configmaps/owned", body,
                      {"Content-Type": "application/apply-patch+yaml"})
    assert status == 422 and b"fieldManager: Required value: is required for apply patch" in out


def test_managed_fields_key_list_items_and_removed_containers_go(emu):
    two = json.loads(json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "owned", "namespace": "apps"},
        "spec": {"selector": {"matchLabels": {"app": "owned"}}, "template": {
            "metadata": {"labels": {"app": "owned"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                                    {"name": "cache", "image": "redis:7"}]}}}}))
    kubectl(emu, None, "apply", "--server-side", "-f", "-", stdin=json.dumps(two))
    with api_client(emu) as api:
        d = client.AppsV1Api(api).read_namespaced_deployment("owned", "apps")
        [entry] = d.metadata.managed_fields
        assert (entry.manager, entry.operation) == ("kubectl", "Apply")
        containers = entry.fields_v1["f:spec"]["f:template"]["f:spec"]["f:containers"]
        assert set(containers) == {'k:{"name":"web"}', 'k:{"name":"cache"}'}
        assert containers['k:{"name":"web"}'] == {
            ".": {}, "f:image": {}, "f:name": {},
            "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}
        # Defaults nobody applied are nobody's: the replicas the API server filled in are not the applier's.
        assert "f:replicas" not in entry.fields_v1["f:spec"]
        two["spec"]["template"]["spec"]["containers"].pop()
        kubectl(emu, None, "apply", "--server-side", "-f", "-", stdin=json.dumps(two))
        d = client.AppsV1Api(api).read_namespaced_deployment("owned", "apps")
        assert [c.name for c in d.spec.template.spec.containers] == ["web"]
        assert d.spec.template.spec.containers[0].termination_message_path == "/dev/termination-log"


@needs_versions
@pytest.mark.parametrize("version", VERSIONS)
def test_exec_answers_every_kubectl_version_over_spdy_or_websocket(emu, version):
    """kubectl before 1.30 upgrades to SPDY/3.1, later ones to WebSocket."""
    # A pod of the cluster's own `web` deployment: other tests here roll out deployments of their own in
    # `apps`, whose pods may be replaced between the listing and the exec.
    pod = json.loads(kubectl(emu, None, "get", "pods", "-n", "apps", "-l", "app=web", "-o", "json").stdout)["items"][0]
    name = pod["metadata"]["name"]
    assert kubectl(emu, version, "exec", "-n", "apps", name, "-c", "istio-proxy", "--", "echo", "hello",
                   "there").stdout == "hello there\n"
    assert kubectl(emu, version, "exec", "-i", "-n", "apps", name, "-c", "istio-proxy", "--", "hostname",
                   stdin="ignored\n").stdout == f"{name}\n"


TYPO = DEPLOYMENT.replace("replicas: 1", "replica: 3").replace("ports: [{containerPort: 80}]", "imagee: x")


@needs_versions
@pytest.mark.parametrize("version", VERSIONS)
def test_unknown_fields_are_refused_under_strict_validation_and_dropped_with_a_warning(emu, version):
    name = f"typo-{version.replace('.', '-')}"
    manifest = TYPO.replace("NAME", name)
    refused = kubectl(emu, version, "apply", "-f", "-", stdin=manifest, check=False)
    assert refused.returncode == 1
    assert ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field '
            '"spec.replica", unknown field "spec.template.spec.containers[0].imagee"') in refused.stderr
    warned = kubectl(emu, version, "apply", "--validate=warn", "-f", "-", stdin=manifest)
    assert 'Warning: unknown field "spec.replica"' in warned.stderr
    assert 'Warning: unknown field "spec.template.spec.containers[0].imagee"' in warned.stderr
    stored = json.loads(kubectl(emu, version, "get", "deployment", name, "-n", "apps", "-o", "json").stdout)
    assert "replica" not in stored["spec"] and stored["spec"]["replicas"] == 1
    assert "imagee" not in stored["spec"]["template"]["spec"]["containers"][0]


# (what, the widget's spec, the 422 message, or None when it is stored)
WIDGETS = [
    ("a string where the schema says integer", {"size": "big"},
     'Widget.shop.example.com "w" is invalid: spec.size: Invalid value: "string": spec.size in body must be of '
     'type integer: "string"'),
    ("a list where the schema says object", [1],
     'Widget.shop.example.com "w" is invalid: spec: Invalid value: "array": spec in body must be of type object: '
     '"array"'),
]


@pytest.mark.parametrize("what,spec,message", WIDGETS, ids=[w[0] for w in WIDGETS])
def test_custom_resources_are_validated_against_their_crd_schema(emu, what, spec, message):
    kubectl(emu, None, "apply", "-f", "-", stdin=WIDGET_CRD)
    body = {"apiVersion": "shop.example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec}
    status, out = raw(emu, "POST", "/apis/shop.example.com/v1/namespaces/apps/widgets", json.dumps(body).encode(),
                      {"Content-Type": "application/json"})
    doc = json.loads(out)
    assert (status, doc["reason"], doc["message"]) == (422, "Invalid", message)


def test_custom_resource_fields_outside_the_schema_are_pruned(emu):
    kubectl(emu, None, "apply", "-f", "-", stdin=WIDGET_CRD)
    widget = {"apiVersion": "shop.example.com/v1", "kind": "Widget", "metadata": {"name": "pruned",
              "namespace": "apps"}, "spec": {"size": 2, "weight": 9}, "extra": True}
    refused = kubectl(emu, None, "apply", "-f", "-", stdin=json.dumps(widget), check=False)
    assert 'strict decoding error: unknown field "extra", unknown field "spec.weight"' in refused.stderr
    kubectl(emu, None, "apply", "--validate=false", "-f", "-", stdin=json.dumps(widget))
    stored = json.loads(kubectl(emu, None, "get", "widget", "pruned", "-n", "apps", "-o", "json").stdout)
    assert stored["spec"] == {"size": 2} and "extra" not in stored


def test_scaling_takes_replicas_so_reapplying_them_conflicts(emu):
    manifest = DEPLOYMENT.replace("NAME", "scaled")
    kubectl(emu, None, "apply", "--server-side", "-f", "-", stdin=manifest)
    kubectl(emu, None, "scale", "deployment", "scaled", "-n", "apps", "--replicas=2")
    refused = kubectl(emu, None, "apply", "--server-side", "-f", "-", stdin=manifest, check=False)
    # kubectl scale names no field manager: the API server takes the User-Agent's product, "kubectl".
    assert ('Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" using apps/v1: '
            '.spec.replicas') in refused.stderr
