"""The real kubectl binary against the emulator: what SREs type, and what a real cluster prints back."""
from __future__ import annotations

import json
import re
import os
import subprocess
import time

import pytest
import yaml

from .conftest import KUBECTL, SMALL, kubectl, needs_kubectl

pytestmark = needs_kubectl

ROLLOUT_LINE = re.compile(
    r'^(Waiting for deployment "web" rollout to finish: (\d+ out of \d+ new replicas have been updated|'
    r'\d+ old replicas are pending termination|\d+ of \d+ updated replicas are available)\.\.\.|'
    r'Waiting for deployment spec update to be observed\.\.\.|deployment "web" successfully rolled out)$')

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: apps
spec:
  replicas: 2
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: api
        image: nginx:1.25
        ports: [{containerPort: 8080}]
      - name: cache
        image: redis:7
"""


@pytest.fixture
def emu(make_emulator):
    return make_emulator()


def _json(emu, *args):
    return json.loads(kubectl(emu, *args, "-o", "json").stdout)


def test_get_prints_server_side_columns(emu):
    out = kubectl(emu, "get", "deployments", "-n", "apps").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert out[1].split()[:4] == ["web", "2/2", "2", "2"]
    pods = kubectl(emu, "get", "pods", "-n", "apps").stdout.splitlines()
    assert pods[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert all(line.split()[1:3] == ["2/2", "Running"] for line in pods[1:])


def test_get_missing_prints_not_found_and_fails(emu):
    proc = kubectl(emu, "get", "deployment", "nope", "-n", "apps", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'


def test_output_formats_json_yaml_jsonpath(emu):
    doc = _json(emu, "get", "deployment", "web", "-n", "apps")
    assert doc["kind"] == "Deployment" and doc["apiVersion"] == "apps/v1"
    assert yaml.safe_load(kubectl(emu, "get", "ns", "apps", "-o", "yaml").stdout)["metadata"]["labels"] == {
        "istio-injection": "enabled", "kubernetes.io/metadata.name": "apps"}
    images = kubectl(emu, "get", "pods", "-n", "apps", "-o",
                     "jsonpath={range .items[*]}{.metadata.name}: "
                     '{.spec.containers[?(@.name=="istio-proxy")].image}{"\\n"}{end}').stdout.splitlines()
    assert len(images) == 2 and all(line.endswith(": docker.io/istio/proxyv2:1.19.3") for line in images)


def test_label_and_annotate_namespace_and_deployment(emu):
    assert kubectl(emu, "label", "namespace", "apps", "istio-injection-", "istio.io/rev=1-20-0",
                   "--overwrite").stdout.strip() == "namespace/apps labeled"
    labels = _json(emu, "get", "ns", "apps")["metadata"]["labels"]
    assert labels == {"istio.io/rev": "1-20-0", "kubernetes.io/metadata.name": "apps"}
    shown = kubectl(emu, "get", "namespaces", "-L", "istio-injection,istio.io/rev").stdout
    assert re.search(r"^apps\s+Active\s+\S+\s+1-20-0\s*$", shown, re.M)
    assert kubectl(emu, "annotate", "deployment", "web", "-n", "apps", "owner=sre").stdout.strip() == \
        "deployment.apps/web annotated"
    clash = kubectl(emu, "label", "ns", "apps", "istio.io/rev=other", check=False)
    assert clash.returncode == 1 and "already has a value (1-20-0)" in clash.stderr


@pytest.mark.parametrize("kind,patch", [
    ("strategic", '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}'),
    ("merge", '{"metadata":{"labels":{"tier":"front"}}}'),
    ("json", '[{"op":"add","path":"/metadata/labels/tier","value":"front"}]'),
])
def test_patch_of_each_type(emu, kind, patch):
    out = kubectl(emu, "patch", "deployment", "web", "-n", "apps", "--type", kind, "-p", patch).stdout
    assert out.strip() == "deployment.apps/web patched"
    doc = _json(emu, "get", "deployment", "web", "-n", "apps")
    if kind == "strategic":
        # Merged by container name: the image changed, the rest of the container is kept.
        (container,) = doc["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "nginx:1.26" and container["ports"] == [
            {"containerPort": 8080, "protocol": "TCP"}]
    else:
        assert doc["metadata"]["labels"]["tier"] == "front"


def test_patch_that_changes_nothing_says_so(emu):
    patch = '{"metadata":{"labels":{"app":"web"}}}'
    assert kubectl(emu, "patch", "deployment", "web", "-n", "apps", "-p", patch).stdout.strip() == \
        "deployment.apps/web patched (no change)"


def test_json_patch_on_service_selector_with_escaped_key(emu):
    kubectl(emu, "patch", "service", "web", "-n", "apps", "--type=json",
            "-p", '[{"op": "add", "path": "/spec/selector/istio.io~1rev", "value": "1-20-0"}]')
    assert _json(emu, "get", "svc", "web", "-n", "apps")["spec"]["selector"] == {"app": "web",
                                                                                  "istio.io/rev": "1-20-0"}


def test_apply_without_flags_creates_configures_and_is_idempotent(emu, tmp_path):
    manifest = tmp_path / "api.yaml"
    manifest.write_text(DEPLOYMENT)
    assert kubectl(emu, "apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/api created"
    assert kubectl(emu, "apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/api unchanged"
    manifest.write_text(DEPLOYMENT.replace("replicas: 2", "replicas: 3").replace("redis:7", "redis:7.2"))
    proc = kubectl(emu, "apply", "-f", str(manifest))
    assert proc.stdout.strip() == "deployment.apps/api configured" and proc.stderr == ""
    doc = _json(emu, "get", "deployment", "api", "-n", "apps")
    assert doc["spec"]["replicas"] == 3
    assert [c["image"] for c in doc["spec"]["template"]["spec"]["containers"]] == ["nginx:1.25", "redis:7.2"]
    assert "kubectl.kubernetes.io/last-applied-configuration" in doc["metadata"]["annotations"]


def test_apply_from_stdin_and_server_side(emu):
    cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: apps}\ndata: {a: '1'}\n"
    assert kubectl(emu, "apply", "-f", "-", stdin=cm).stdout.strip() == "configmap/settings created"
    # As on a cluster: client-side apply's manager owns data.a, so a server-side apply changing it conflicts.
    refused = kubectl(emu, "apply", "--server-side", "-f", "-", stdin=cm.replace("'1'", "'2'"), check=False)
    assert refused.returncode == 1
    assert 'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: .data.a' in \
        refused.stderr
    out = kubectl(emu, "apply", "--server-side", "--force-conflicts", "-f", "-",
                  stdin=cm.replace("'1'", "'2'")).stdout.strip()
    assert out == "configmap/settings serverside-applied"
    assert _json(emu, "get", "cm", "settings", "-n", "apps")["data"] == {"a": "2"}


def test_create_twice_reports_already_exists(emu, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: once, namespace: apps}\n")
    assert kubectl(emu, "create", "-f", str(manifest)).stdout.strip() == "configmap/once created"
    again = kubectl(emu, "create", "-f", str(manifest), check=False)
    assert again.returncode == 1
    assert 'configmaps "once" already exists' in again.stderr and "(AlreadyExists)" in again.stderr


def test_kubectl_create_subcommands_send_protobuf_and_are_understood(emu):
    """`kubectl create <kind>` uses the typed client, which only speaks protobuf for built-in kinds."""
    assert kubectl(emu, "create", "namespace", "extra").stdout.strip() == "namespace/extra created"
    kubectl(emu, "create", "deployment", "hello", "--image=nginx:1.25", "--replicas=3", "--port=8080",
            "-n", "extra")
    kubectl(emu, "create", "configmap", "cfg", "--from-literal=a=1", "-n", "extra")
    kubectl(emu, "create", "secret", "generic", "sec", "--from-literal=pw=s3cret", "-n", "extra")
    kubectl(emu, "create", "service", "nodeport", "hello", "--tcp=80:8080", "--node-port=30080", "-n", "extra")
    kubectl(emu, "create", "serviceaccount", "robot", "-n", "extra")
    d = _json(emu, "get", "deployment", "hello", "-n", "extra")
    assert d["spec"]["replicas"] == 3 and d["spec"]["selector"] == {"matchLabels": {"app": "hello"}}
    assert d["spec"]["template"]["spec"]["containers"][0]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert _json(emu, "get", "cm", "cfg", "-n", "extra")["data"] == {"a": "1"}
    secret = _json(emu, "get", "secret", "sec", "-n", "extra")
    assert secret["data"] == {"pw": "czNjcmV0"} and secret["type"] == "Opaque"
    port = _json(emu, "get", "svc", "hello", "-n", "extra")["spec"]["ports"][0]
    assert (port["port"], port["targetPort"], port["nodePort"]) == (80, 8080, 30080)
    assert _json(emu, "get", "sa", "robot", "-n", "extra")["metadata"]["namespace"] == "extra"
    wait = kubectl(emu, "rollout", "status", "deployment/hello", "-n", "extra", "--timeout=20s")
    assert wait.stdout.splitlines()[-1] == 'deployment "hello" successfully rolled out'


def test_create_job_from_a_cronjob_sends_protobuf_and_the_job_runs(emu):
    """`kubectl create cronjob` and `create job --from=cronjob/...` send batch/v1 protobuf, pod template and all."""
    kubectl(emu, "create", "cronjob", "report", "--image=busybox:1.36", "--schedule=0 3 * * *", "-n", "apps",
            "--", "sh", "-c", "echo done")
    cron = _json(emu, "get", "cronjob", "report", "-n", "apps")
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "sh", "-c", "echo done"]
    assert kubectl(emu, "create", "job", "report-now", "--from=cronjob/report", "-n", "apps").stdout.strip() == \
        "job.batch/report-now created"
    job = _json(emu, "get", "job", "report-now", "-n", "apps")
    assert job["metadata"]["ownerReferences"][0]["kind"] == "CronJob"
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    kubectl(emu, "wait", "--for=condition=complete", "job/report-now", "-n", "apps", "--timeout=60s")


PDB = """
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: apps}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
"""


def test_reapplying_an_unchanged_pdb_says_configured_and_changes_nothing(emu):
    """As on a real cluster: the PDB's selector has patch strategy `replace`, so kubectl's three-way patch is
    never empty and kubectl prints "configured"; the server sees no change and keeps the resourceVersion."""
    assert kubectl(emu, "apply", "-f", "-", stdin=PDB).stdout.strip() == \
        "poddisruptionbudget.policy/web created"
    before = _json(emu, "get", "pdb", "web", "-n", "apps")["metadata"]
    assert kubectl(emu, "apply", "-f", "-", stdin=PDB).stdout.strip() == \
        "poddisruptionbudget.policy/web configured"
    after = _json(emu, "get", "pdb", "web", "-n", "apps")["metadata"]
    assert (after["resourceVersion"], after["generation"]) == (before["resourceVersion"], before["generation"])


def test_deleting_a_namespace_terminates_it_and_delete_wait_returns_once_it_is_gone(make_emulator):
    emu = make_emulator({**SMALL, "termination_delay": 3})
    assert kubectl(emu, "delete", "namespace", "apps", "--wait=false").stdout.strip() == 'namespace "apps" deleted'
    ns = _json(emu, "get", "namespace", "apps")
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    refused = kubectl(emu, "create", "configmap", "late", "-n", "apps", check=False)
    assert refused.returncode == 1 and "because it is being terminated" in refused.stderr
    assert kubectl(emu, "get", "deployments", "-n", "apps", "-o", "name").stdout == ""
    pods = _json(emu, "get", "pods", "-n", "apps")["items"]
    assert pods and all(p["metadata"].get("deletionTimestamp") for p in pods)  # in their grace period
    started = time.monotonic()
    kubectl(emu, "delete", "namespace", "apps", "--ignore-not-found", "--timeout=60s", timeout=90)
    assert time.monotonic() - started > 0.5  # it waited for the pods' grace period
    gone = kubectl(emu, "get", "namespace", "apps", check=False)
    assert gone.returncode == 1 and 'namespaces "apps" not found' in gone.stderr


def test_delete_deployment_cascades(emu):
    assert kubectl(emu, "delete", "deployment", "web", "-n", "apps").stdout.strip() == \
        'deployment.apps "web" deleted'
    assert kubectl(emu, "get", "rs,pods", "-n", "apps", "-o", "name").stdout == ""


def test_rollout_restart_then_status_prints_real_lines(emu):
    before = {p["metadata"]["name"] for p in _json(emu, "get", "pods", "-n", "apps")["items"]}
    assert kubectl(emu, "rollout", "restart", "deployment", "-n", "apps").stdout.strip() == \
        "deployment.apps/web restarted"
    status = kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=30s")
    lines = status.stdout.splitlines()
    assert lines[-1] == 'deployment "web" successfully rolled out'
    assert all(ROLLOUT_LINE.match(line) for line in lines), lines
    template = _json(emu, "get", "deployment", "web", "-n", "apps")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    after = {p["metadata"]["name"] for p in _json(emu, "get", "pods", "-n", "apps")["items"]}
    assert len(after) == 2 and not before & after
    history = kubectl(emu, "rollout", "history", "deployment/web", "-n", "apps").stdout
    assert re.search(r"^1\s", history, re.M) and re.search(r"^2\s", history, re.M)


def test_rollout_status_of_all_deployments_in_namespace(emu):
    kubectl(emu, "rollout", "restart", "deployment", "-n", "apps")
    out = kubectl(emu, "rollout", "status", "deployment", "-n", "apps", "--timeout=30s").stdout
    assert out.splitlines()[-1] == 'deployment "web" successfully rolled out'


def test_wait_for_condition(emu):
    kubectl(emu, "rollout", "restart", "deployment/web", "-n", "apps")
    out = kubectl(emu, "wait", "--for=condition=Available", "deployment/web", "-n", "apps", "--timeout=20s")
    assert out.stdout.strip() == "deployment.apps/web condition met"
    kubectl(emu, "rollout", "status", "deployment/web", "-n", "apps", "--timeout=20s")
    pods = kubectl(emu, "wait", "--for=condition=Ready", "pods", "-l", "app=web", "-n", "apps", "--timeout=20s")
    assert pods.stdout.count("condition met") == 2


def test_describe_pod_deployment_and_nodes(emu):
    d = kubectl(emu, "describe", "deployment", "web", "-n", "apps").stdout
    assert re.search(r"^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available \| 0 unavailable$", d, re.M)
    assert re.search(r"^RollingUpdateStrategy:\s+0 max unavailable, 1 max surge$", d, re.M)
    assert re.search(r"Available\s+True\s+MinimumReplicasAvailable", d)
    pod = _json(emu, "get", "pods", "-n", "apps")["items"][0]["metadata"]["name"]
    p = kubectl(emu, "describe", "pod", pod, "-n", "apps").stdout
    assert "istio-proxy:" in p and "docker.io/istio/proxyv2:1.19.3" in p and "Successfully assigned" in p
    nodes = kubectl(emu, "describe", "nodes").stdout
    assert nodes.count("Allocated resources:") == 3


def test_logs_pick_the_default_container_and_named_ones(emu):
    pod = _json(emu, "get", "pods", "-n", "apps")["items"][0]["metadata"]["name"]
    assert "emulated container web" in kubectl(emu, "logs", pod, "-n", "apps").stdout
    proxy = kubectl(emu, "logs", pod, "-n", "apps", "-c", "istio-proxy", "--tail=1").stdout
    assert proxy.strip().endswith("Envoy proxy is ready")
    by_label = kubectl(emu, "logs", "-n", "apps", "-l", "app=web", "-c", "istio-proxy", "--tail=1").stdout
    assert by_label.count("Envoy proxy is ready") == 2
    assert "injection" in kubectl(emu, "logs", "-n", "istio-system", "deploy/istiod").stdout


def test_exec_and_top(emu):
    out = kubectl(emu, "exec", "-n", "apps", "deploy/web", "-c", "web", "--", "curl", "-s", "http://web/health")
    assert out.stdout == "OK\n"
    top = kubectl(emu, "top", "pods", "-n", "apps").stdout.splitlines()
    assert top[0].split() == ["NAME", "CPU(cores)", "MEMORY(bytes)"] and len(top) == 3


def test_cluster_info_version_and_auth_can_i(emu):
    assert "Kubernetes control plane is running at http://127.0.0.1:" in kubectl(emu, "cluster-info").stdout
    assert "Server Version: v1.32.0" in kubectl(emu, "version").stdout
    assert kubectl(emu, "auth", "can-i", "create", "deployments", "-n", "apps").stdout.strip() == "yes"


def test_get_watch_streams_changes(emu):
    proc = subprocess.Popen([KUBECTL, "get", "ns", "apps", "-w", "--output-watch-events", "--request-timeout=2s"],
                            env={**os.environ, **emu.env()}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(0.5)  # let the watch start; events before it would be replayed as ADDED only
        kubectl(emu, "label", "ns", "apps", "watched=yes", "--overwrite")
        out, _ = proc.communicate(timeout=10)
    finally:
        proc.kill()
    rows = [line.split()[0] for line in out.splitlines()[1:]]
    assert rows[0] == "ADDED" and "MODIFIED" in rows
