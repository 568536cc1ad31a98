"""A real cluster's dump as the emulator's starting cluster: the forms kubectl writes, what is kept and left
out, and kinds the emulator does not model served generically to real clients."""
from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest
import yaml
from kubernetes import client, config, dynamic, watch

from engine.emulator.cluster import load_cluster
from engine.emulator.dump import read_dump, strip_managed_fields

from .conftest import kubectl, needs_kubectl

CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "one"}, "data": {"k": "v"}}
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "one"}}
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "one"},
          "spec": {"size": 3}}


def _names(spec) -> set[tuple[str, str]]:
    return {(o["kind"], o["metadata"]["name"]) for o in spec.objects}


@pytest.mark.parametrize("form", ["v1 List", "documents", "directory", "json"])
def test_every_form_kubectl_writes_loads_the_same_objects(tmp_path, form):
    objs = [NS, CM, WIDGET]
    if form == "v1 List":
        path = tmp_path / "dump.yaml"
        path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": objs}))
    elif form == "documents":
        path = tmp_path / "dump.yaml"
        path.write_text(yaml.safe_dump_all(objs))
    elif form == "json":
        path = tmp_path / "dump.json"
        path.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": objs}))
    else:
        path = tmp_path / "dump"
        path.mkdir()
        for i, o in enumerate(objs):
            (path / f"{i}-{o['kind']}.yaml").write_text(yaml.safe_dump(o))
        (path / "README.txt").write_text("not a manifest")
    assert _names(load_cluster(str(path))) == {("Namespace", "one"), ("ConfigMap", "c"), ("Widget", "w")}


@pytest.mark.parametrize("text", [
    "a: 1\nmetadata:\n  name: x\n  managedFields:\n  - manager: m\n    fieldsV1:\n      f:spec: {}\n  uid: u\nb: 2\n",
    "items:\n- metadata:\n    managedFields:\n    - manager: m\n    name: x\n  spec: {}\n- metadata:\n    name: y\n",
    "metadata:\n  managedFields: []\n  name: x\n",
    "metadata:\n  name: x\n  managedFields:\n    - manager: m\n\n      time: t\n  labels: {a: b}\n",
])
def test_managed_fields_are_skipped_without_changing_anything_else(text):
    def drop(node):
        if isinstance(node, dict):
            return {k: drop(v) for k, v in node.items() if k != "managedFields"}
        if isinstance(node, list):
            return [drop(v) for v in node]
        return node
    assert yaml.safe_load(strip_managed_fields(text)) == drop(yaml.safe_load(text))


def test_a_real_dump_keeps_workloads_and_nodes_and_leaves_derived_objects_to_the_controllers(real_dump):
    dump = read_dump(real_dump)
    nodes, objects, skipped = dump.importable()
    assert [n["metadata"]["name"] for n in nodes][:2] == ["emulator-control-plane", "emulator-worker"]
    assert nodes[0]["status"]["allocatable"]["cpu"] == "8"
    assert skipped["Pod (made again by its controller)"] == sum(1 for o in dump.objects if o["kind"] == "Pod")
    assert {"Endpoints (derived)", "EndpointSlice (derived)", "Event (derived)"} <= set(skipped)
    for obj in objects:
        meta = obj["metadata"]
        assert not {"managedFields", "uid", "resourceVersion", "creationTimestamp"} & set(meta), obj["kind"]
        assert obj["kind"] in ("CustomResourceDefinition",) or "status" not in obj, obj["kind"]
    assert {"StatefulSet", "DaemonSet", "Certificate", "ServiceMonitor", "CronJob", "PriorityClass"} <= \
        {o["kind"] for o in objects}


@needs_kubectl
def test_kinds_it_has_never_seen_are_served_to_kubectl(real_dump, make_emulator):
    emu = make_emulator(str(real_dump))
    resources = kubectl(emu, "api-resources", "-o", "name").stdout.split()
    assert {"certificates.cert-manager.io", "servicemonitors.monitoring.coreos.com", "cronjobs.batch",
            "networkpolicies.networking.k8s.io", "priorityclasses.scheduling.k8s.io"} <= set(resources)
    assert kubectl(emu, "get", "servicemonitors", "-A", "-o", "name").stdout.count("servicemonitor") == 12
    got = json.loads(kubectl(emu, "get", "servicemonitor", "frontend", "-n", "shop-3", "-o", "json").stdout)
    assert got["spec"]["endpoints"] == [{"port": "http", "interval": "30s"}]
    assert "default-deny" in kubectl(emu, "get", "netpol", "-n", "shop-1").stdout
    assert "business-critical" in kubectl(emu, "get", "priorityclasses").stdout
    # Deployments of the dump run again, on the dump's nodes, injected by its Istio.
    pods = json.loads(kubectl(emu, "get", "pods", "-n", "shop-1", "-o", "json").stdout)["items"]
    assert pods and all(p["status"]["phase"] == "Running" for p in pods)
    assert all(any(c["name"] == "istio-proxy" for c in p["spec"]["containers"]) for p in pods)


def test_the_official_client_lists_gets_and_watches_an_unknown_kind(tmp_path, make_emulator):
    path = tmp_path / "dump.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [NS, WIDGET]}))
    emu = make_emulator(str(path))
    api = config.new_client_from_config(config_file=str(emu.kubeconfig))
    widgets = dynamic.DynamicClient(api).resources.get(api_version="example.com/v1", kind="Widget")
    assert widgets.get(namespace="one", name="w").spec.size == 3
    assert [w.metadata.name for w in widgets.get(namespace="one").items] == ["w"]
    custom = client.CustomObjectsApi(api)
    seen: list[str] = []

    def watch_once() -> None:
        for event in watch.Watch().stream(custom.list_namespaced_custom_object, "example.com", "v1", "one",
                                          "widgets", timeout_seconds=5):
            seen.append(f"{event['type']} {event['object']['metadata']['name']}")
            if len(seen) == 2:
                return
    t = threading.Thread(target=watch_once)
    t.start()
    custom.create_namespaced_custom_object("example.com", "v1", "one", "widgets",
                                           {**WIDGET, "metadata": {"name": "w2", "namespace": "one"}})
    t.join(10)
    assert seen[0] == "ADDED w" and "ADDED w2" in seen


def test_emulate_snapshot_serves_the_dump(real_dump, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "emulate", "--snapshot", str(real_dump), "--state-dir",
                           str(tmp_path / "st"), "--", sys.executable, "-c",
                           "import os,urllib.request,json;u=os.environ['PLAYBOOK_EMULATOR_URL'];"
                           "print(len(json.load(urllib.request.urlopen(u+'/apis/cert-manager.io/v1/certificates'))"
                           "['items']))"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[0] == "12"


def test_run_emulate_snapshot_runs_a_playbook_on_the_copy(real_dump, tmp_path):
    playbook = tmp_path / "count.yaml"
    playbook.write_text("version: 1\nname: count\nsteps:\n"
                        "  - id: certs\n    uses: kubectl\n    with: {args: [get, certificates, -A, -o, name]}\n"
                        "  - id: count\n    needs: [certs]\n    uses: assert\n"
                        "    with: {that: [\"steps.certs.stdout.splitlines() | length == 12\"]}\n")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(playbook), "--emulate", "--snapshot",
                           str(real_dump), "--runs-dir", str(tmp_path / "runs"), "-q"],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"serving a {real_dump} cluster" in proc.stderr


def test_a_dump_of_some_namespaces_gets_them_and_an_object_the_api_refuses_is_left_out(tmp_path, make_emulator):
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "shop"},
           "spec": {"selector": {"matchLabels": {"app": "x"}},
                    "template": {"metadata": {"labels": {"app": "y"}},
                                 "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    path = tmp_path / "shop.yaml"  # as `kubectl get deploy,cm -n shop -o yaml` writes it: no Namespace object
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [
        {**CM, "metadata": {"name": "c", "namespace": "shop"}}, bad]}))
    emu = make_emulator(str(path))
    api = config.new_client_from_config(config_file=str(emu.kubeconfig))
    assert client.CoreV1Api(api).read_namespaced_config_map("c", "shop").data == {"k": "v"}
    assert len(emu.refused) == 1 and emu.refused[0].startswith("Deployment shop/bad: ")
    assert "selector" in emu.refused[0]


def test_a_cluster_file_mistake_is_still_fatal(tmp_path):
    from engine.emulator import Emulator
    from engine.emulator.cluster import ClusterFileError
    with pytest.raises(ClusterFileError, match="Deployment shop/bad"):
        Emulator({"namespaces": ["shop"], "objects": [{
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {
                "metadata": {"labels": {"app": "y"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}]},
            state_dir=tmp_path / "st").start()


def test_rehearse_of_an_unreadable_snapshot_is_one_line(tmp_path):
    bad = tmp_path / "snap.yaml"
    bad.write_text("apiVersion: v1\nkind: List\nitems:\n- {kind: Pod}\n")
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "rehearse", "playbooks/canary-upgrade.yaml",
                           "--snapshot", str(bad), "--var", "rev=1-20-0", "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=120,
                          cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert proc.returncode == 2 and proc.stderr.splitlines()[-1].startswith(f"error: --snapshot {bad}: ")
    assert "every entry needs apiVersion, kind and metadata" in proc.stderr


@needs_kubectl
def test_what_the_real_kubectl_dumps_loads_back(real_dump, make_emulator, tmp_path):
    first = make_emulator(str(real_dump))
    kinds = "nodes,namespaces,deployments,statefulsets,daemonsets,replicasets,pods,services,configmaps,secrets," \
            "poddisruptionbudgets,horizontalpodautoscalers,mutatingwebhookconfigurations," \
            "validatingwebhookconfigurations,customresourcedefinitions,certificates,servicemonitors,cronjobs," \
            "networkpolicies,istiooperators,serviceaccounts,priorityclasses"
    for fmt in ("yaml", "json"):
        out = tmp_path / f"kubectl.{fmt}"
        out.write_text(kubectl(first, "get", kinds, "-A", "-o", fmt, timeout=60).stdout)
        copy = make_emulator(str(out))
        key = lambda o: (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])  # noqa: E731
        derived = {"Pod", "ReplicaSet", "Endpoints", "EndpointSlice", "Event", "ControllerRevision"}
        want = {key(o) for o in first.state()["items"] if o["kind"] not in derived}
        got = {key(o) for o in copy.state()["items"] if o["kind"] not in derived}
        assert want - got == set() and copy.refused == [], fmt
        assert "Certificate" in {k for k, _, _ in got} and "ServiceMonitor" in {k for k, _, _ in got}
