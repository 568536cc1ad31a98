"""`playbook snapshot`: a live cluster (here an emulator) read through the official client into a file the
emulator loads again; Secret values never leave the cluster."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import yaml
from kubernetes import client, config

from engine.emulator.cluster import load_cluster
from engine.snapshot import REDACTED, take_snapshot, write_snapshot


def _kinds(items: list[dict]) -> set[str]:
    return {i["kind"] for i in items}


def test_snapshot_reads_every_kind_the_rehearsal_needs(make_emulator):
    emu = make_emulator()
    snap = take_snapshot(kubeconfig=str(emu.kubeconfig))
    assert {"Node", "Namespace", "Deployment", "ReplicaSet", "Pod", "PodDisruptionBudget", "HorizontalPodAutoscaler",
            "Service", "ConfigMap", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
            "CustomResourceDefinition", "IstioOperator"} <= _kinds(snap.items)
    assert all(i.get("apiVersion") and i["metadata"].get("name") for i in snap.items)
    assert snap.context == "emulator" and snap.server == emu.url and snap.server_version.startswith("v1.")


def test_secret_values_are_never_written(make_emulator, tmp_path):
    emu = make_emulator()
    api = config.new_client_from_config(config_file=str(emu.kubeconfig))
    client.CoreV1Api(api).create_namespaced_secret("default", {
        "metadata": {"name": "db", "annotations": {"team": "payments"}}, "type": "Opaque",
        "data": {"password": base64.b64encode(b"hunter2-very-secret").decode()}})
    path = write_snapshot(take_snapshot(kubeconfig=str(emu.kubeconfig)), tmp_path / "snap.yaml")
    text = path.read_text()
    assert "hunter2" not in text and base64.b64encode(b"hunter2-very-secret").decode() not in text
    secret = next(i for i in yaml.safe_load(text)["items"] if i["kind"] == "Secret")
    assert "data" not in secret and "stringData" not in secret
    assert secret["metadata"]["annotations"] == {"team": "payments", REDACTED: "values not read"}


def test_snapshot_command_shows_progress_and_loads_back_as_the_same_cluster(make_emulator, tmp_path):
    emu = make_emulator()
    out = tmp_path / "snap.yaml"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "snapshot", "-o", str(out)],
                          env={**os.environ, **emu.env()}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    progress = [line for line in proc.stderr.splitlines() if line.startswith("snapshot: [")]
    assert progress[0].startswith("snapshot: [1/") and "deployments.apps" in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("snapshot: ") and f"written to {out}" in proc.stderr
    copy = make_emulator(str(out))
    key = lambda i: (i["kind"], i["metadata"].get("namespace"), i["metadata"]["name"])  # noqa: E731
    derived = {"Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "Event"}
    original = {key(i) for i in emu.state()["items"] if i["kind"] not in derived}
    copied = {key(i) for i in copy.state()["items"] if i["kind"] not in derived}
    assert original == copied
    assert len(load_cluster(str(out)).objects) > 30


def test_snapshot_of_an_unreachable_cluster_is_one_line(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "gone",
        "clusters": [{"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "u"}}],
        "users": [{"name": "u", "user": {}}]}))
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "snapshot", "--kubeconfig", str(kubeconfig), "-o",
                           str(tmp_path / "s.yaml")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: cannot reach the cluster at http://127.0.0.1:9") and \
        len(proc.stderr.splitlines()) == 1


def test_custom_resources_read_are_istio_gateway_api_and_argo_rollouts():
    from engine.snapshot import _custom_resources

    def crd(group: str, plural: str) -> dict:
        return {"spec": {"group": group, "names": {"plural": plural, "kind": plural.title()[:-1]},
                         "versions": [{"name": "v1beta1", "served": True, "storage": False},
                                      {"name": "v1", "served": True, "storage": True}]}}
    crds = [crd("networking.istio.io", "virtualservices"), crd("install.istio.io", "istiooperators"),
            crd("gateway.networking.k8s.io", "httproutes"), crd("argoproj.io", "rollouts"),
            crd("argoproj.io", "applications"), crd("cert-manager.io", "certificates"),
            crd("notistio.io.example.com", "things")]
    assert [(r.group, r.version, r.plural) for r in _custom_resources(crds)] == [
        ("gateway.networking.k8s.io", "v1", "httproutes"), ("install.istio.io", "v1", "istiooperators"),
        ("argoproj.io", "v1", "rollouts"), ("networking.istio.io", "v1", "virtualservices")]


def test_snapshot_reads_the_named_context_and_names_what_it_could_not_read(make_emulator, tmp_path):
    emu = make_emulator(faults={"api_errors": [{"path": "^/apis/policy/v1/poddisruptionbudgets", "status": 403,
                                                "message": "forbidden"}]})
    # Two contexts; the current one points nowhere, --context picks the emulator.
    config_doc = yaml.safe_load(emu.kubeconfig.read_text())
    config_doc["clusters"].append({"name": "gone", "cluster": {"server": "http://127.0.0.1:9"}})
    config_doc["contexts"].append({"name": "gone", "context": {"cluster": "gone", "user": "emulator"}})
    config_doc["current-context"] = "gone"
    kubeconfig = tmp_path / "two-contexts"
    kubeconfig.write_text(yaml.safe_dump(config_doc))
    out = tmp_path / "snap.yaml"
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "snapshot", "--kubeconfig", str(kubeconfig),
                           "--context", "emulator", "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "snapshot: poddisruptionbudgets.policy not read: 403 forbidden" in proc.stderr
    doc = yaml.safe_load(out.read_text())
    notes = doc["metadata"]["annotations"]
    assert notes["playbook.dev/context"] == "emulator" and notes["playbook.dev/server"] == emu.url
    assert json.loads(notes["playbook.dev/unreadable"])["poddisruptionbudgets.policy"] == "403 forbidden"
    assert not any(i["kind"] == "PodDisruptionBudget" for i in doc["items"])
