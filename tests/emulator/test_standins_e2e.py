"""The istioctl and helm stand-ins run as real subprocesses against a started Emulator."""
import io
import json
import os
import shutil
import subprocess
import time

import pytest
import yaml

from engine.emulator import Emulator
from engine.emulator.istio_objects import tag_webhook
from engine.emulator.standins import helm, istioctl, mesh
from engine.emulator.standins.kubeclient import KubeClient, NotFound

from .test_standins_units import REFERENCE_IOP

CLUSTER = {
    "readiness_delay": 0.05,
    "istio": [{"revision": "default", "version": "1.19.3", "profile": "default", "gateway": False}],
    "namespaces": [{"name": "test-namespace", "labels": {"istio-injection": "enabled"},
                    "deployments": [{"name": "web", "replicas": 2, "maxSurge": 1, "maxUnavailable": 0}]}],
}
# Kinds whose objects only installers create; pods and replica sets come and go with rollouts.
INSTALLED_KINDS = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ConfigMap"), ("v1", "ServiceAccount"),
                   ("v1", "Secret"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
                   ("policy/v1", "PodDisruptionBudget"),
                   ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"),
                   ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
                   ("install.istio.io/v1alpha1", "IstioOperator")]


def _settled(client: KubeClient, timeout: float = 10.0) -> None:
    """Wait until every Deployment has its Ready pods and no terminating pod is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        deps = client.list("apps/v1", "Deployment")
        pods = client.list("v1", "Pod")
        if all(mesh.deployment_ready(client, d) for d in deps) and not any(
                p["metadata"].get("deletionTimestamp") for p in pods):
            return
        time.sleep(0.05)
    raise AssertionError("cluster did not settle")


@pytest.fixture
def emu():
    with Emulator(cluster=CLUSTER) as emulator:
        _settled(KubeClient.from_kubeconfig(str(emulator.kubeconfig)))
        yield emulator


@pytest.fixture
def client(emu):
    kube = KubeClient.from_kubeconfig(str(emu.kubeconfig))
    yield kube
    kube.close()


def run(emu, *argv, stdin=subprocess.DEVNULL):
    """One stand-in command line, found on the emulator's PATH like any executable."""
    return subprocess.run(list(argv), env={**os.environ, **emu.env()}, stdin=stdin, capture_output=True,
                          text=True, timeout=60)


def call(emu, tool, *argv):
    """The same command line in this process: for the secondary checks of a test (a subprocess start costs
    more than the command itself)."""
    out, err = io.StringIO(), io.StringIO()
    main = {"istioctl": istioctl.main, "helm": helm.main}[tool]
    code = main(["--kubeconfig", str(emu.kubeconfig), *argv], out=out, err=err)
    return subprocess.CompletedProcess([tool, *argv], code, out.getvalue(), err.getvalue())


def _inventory(client: KubeClient) -> set[tuple[str, str, str]]:
    found = set()
    for api_version, kind in INSTALLED_KINDS:
        try:
            items = client.list(api_version, kind)
        except NotFound:  # a kind the cluster does not serve yet (IstioOperator before the CRDs)
            continue
        found |= {(kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]) for o in items
                  if o["metadata"].get("name") != "playbook-emulator-faults"}
    return found


def _install(emu, tmp_path, *extra):
    manifest = tmp_path / "istio-1-20-0.yaml"
    manifest.write_text(REFERENCE_IOP)
    return run(emu, "istioctl", "install", "-f", str(manifest), "--revision=1-20-0", "-y", *extra)


def _set_up_revision(emu, tmp_path) -> None:
    """Install 1-20-0 in-process: set-up for tests that pin other commands (saves a subprocess start)."""
    manifest = tmp_path / "istio-1-20-0.yaml"
    manifest.write_text(REFERENCE_IOP)
    out, err = io.StringIO(), io.StringIO()
    code = istioctl.main(["install", "-f", str(manifest), "--revision=1-20-0", "-y", "--kubeconfig",
                          str(emu.kubeconfig)], out=out, err=err)
    assert code == 0, err.getvalue()


def _migrate(client: KubeClient, namespace: str, label: dict) -> None:
    """What `kubectl label namespace ... --overwrite` and `kubectl rollout restart deployment` send, then wait
    until only restarted pods are left and all of them are Ready."""
    client.patch("v1", "Namespace", namespace, {"metadata": {"labels": label}})
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + str(time.monotonic_ns())
    deps = client.list("apps/v1", "Deployment", namespace)
    for dep in deps:
        client.patch("apps/v1", "Deployment", dep["metadata"]["name"], {"spec": {"template": {"metadata": {
            "annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}, namespace)
    wanted = sum(int(d["spec"]["replicas"]) for d in deps)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pods = client.list("v1", "Pod", namespace)
        fresh = [p for p in pods if (p["metadata"].get("annotations") or {}).get(
            "kubectl.kubernetes.io/restartedAt") == stamp and mesh.pod_ready(p)]
        if len(fresh) == wanted == len(pods):
            return
        time.sleep(0.05)
    raise AssertionError(f"rollout restart in {namespace} did not finish")


def test_install_creates_the_revision_kubectl_then_sees(emu, client, tmp_path):
    result = _install(emu, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:4] == ["✔ Istio core installed", "✔ Istiod installed",
                                              "✔ Ingress gateways installed", "✔ Installation complete"]
    if shutil.which("kubectl"):
        got = subprocess.run(["kubectl", "get", "deployment", "istiod-1-20-0", "-n", "istio-system", "-o", "yaml"],
                             env={**os.environ, **emu.env()}, capture_output=True, text=True, timeout=30)
        assert got.returncode == 0, got.stderr
        istiod = yaml.safe_load(got.stdout)
    else:
        istiod = client.get("apps/v1", "Deployment", "istiod-1-20-0", "istio-system")
    assert istiod["spec"]["replicas"] == 2
    assert istiod["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/istio/pilot:1.20.0"
    state = client.get("install.istio.io/v1alpha1", "IstioOperator", "installed-state-1-20-0", "istio-system")
    assert state["spec"]["meshConfig"]["accessLogFile"] == "/dev/stdout"


def test_injection_uses_the_new_revision_after_relabel_and_restart(emu, client, tmp_path):
    _set_up_revision(emu, tmp_path)
    waited = call(emu, "istioctl", "experimental", "wait", "--for=distribution", "--revision=1-20-0", "--timeout=30s")
    assert waited.stdout == "Resource revision 1-20-0 present on 2 out of 2 sidecars\n"  # the two gateway pods
    _migrate(client, "test-namespace", {"istio-injection": None, "istio.io/rev": "1-20-0"})
    status = run(emu, "istioctl", "proxy-status")
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()[1:] if ".test-namespace" in line]
    assert len(rows) == 2
    assert all(r[-1] == "1.20.0" and r[-2].startswith("istiod-1-20-0-") and r[2:6] == ["SYNCED"] * 4
               for r in rows)
    version = call(emu, "istioctl", "version")
    assert version.stdout.splitlines() == ["client version: 1.20.0", "istiod version: 1.19.3",
                                           "istiod-1-20-0 version: 1.20.0",
                                           "data plane version: 1.20.0 (4 proxies)"]


def test_tag_set_refuses_an_existing_tag_without_overwrite_and_moves_it_with(emu, client, tmp_path):
    _set_up_revision(emu, tmp_path)
    first = call(emu, "istioctl", "tag", "set", "default", "--revision", "default")
    assert first.returncode == 0, first.stderr
    refused = run(emu, "istioctl", "tag", "set", "default", "--revision", "1-20-0")
    assert refused.returncode == 1
    assert refused.stderr == 'Error: revision tag "default" already exists, and --overwrite is false\n'
    moved = run(emu, "istioctl", "tag", "set", "default", "--revision", "1-20-0", "--overwrite")
    assert moved.returncode == 0, moved.stderr
    listing = call(emu, "istioctl", "tag", "list")
    assert listing.stdout.splitlines()[1].split() == ["default", "1-20-0"]
    # istio-injection=enabled now means the default tag, so a restart moves the namespace's proxies.
    _migrate(client, "test-namespace", {})
    assert {p.version for p in mesh.proxies(client, "test-namespace")} == {"1.20.0"}


def test_uninstall_removes_exactly_the_revision_objects(emu, client, tmp_path):
    before = _inventory(client)
    _set_up_revision(emu, tmp_path)
    assert ("Deployment", "istio-system", "istiod-1-20-0") in _inventory(client)
    # Removing a gateway needs a yes; with no terminal to answer, nothing is removed.
    asked = run(emu, "istioctl", "uninstall", "--revision", "1-20-0")
    assert asked.returncode == 1
    assert "You are about to remove the following gateways: istio-ingressgateway-1-20-0." in asked.stdout
    assert asked.stdout.endswith("Proceed? (y/N) Cancelled.\n")
    assert ("Deployment", "istio-system", "istiod-1-20-0") in _inventory(client)
    removed = run(emu, "istioctl", "uninstall", "--revision", "1-20-0", "-y")
    assert removed.returncode == 0, removed.stderr
    assert "  Removed Deployment:istio-system:istiod-1-20-0." in removed.stdout
    assert removed.stdout.endswith("✔ Uninstall complete\n")
    after = _inventory(client)
    # Shared objects an install adds only when absent (the gateway Service) stay, as they do for real.
    assert after - before == {("Service", "istio-system", "istio-ingressgateway"),
                              ("ServiceAccount", "istio-system", "istio-reader-service-account")} - before
    assert before - after == set()


def test_install_without_yes_or_with_dry_run_changes_nothing(emu, client):
    result = run(emu, "istioctl", "install", "--revision", "1-20-0")
    assert result.returncode == 1
    assert "Proceed? (y/N)" in result.stdout and result.stdout.endswith("Cancelled.\n")
    # --dry-run says what it would do and does nothing either.
    assert call(emu, "istioctl", "install", "--revision", "1-20-0", "-y", "--dry-run").returncode == 0
    drafted = call(emu, "helm", "install", "istiod-1-20-0", "istio/istiod", "-n", "istio-system",
                   "--set", "revision=1-20-0", "--dry-run")
    assert "STATUS: pending-install" in drafted.stdout and "MANIFEST:" in drafted.stdout
    assert client.get_or_none("apps/v1", "Deployment", "istiod-1-20-0", "istio-system") is None
    assert client.list("v1", "Secret", "istio-system", "owner=helm") == []


def test_install_fails_when_the_revision_istiod_never_gets_ready(emu, client, tmp_path):
    emu.set_faults({"istiod_never_ready": ["1-20-0"]})
    result = _install(emu, tmp_path, "--readiness-timeout", "1s")
    assert result.returncode == 1
    assert "✔ Istio core installed" in result.stdout and "✔ Istiod installed" not in result.stdout
    assert "✘ Istiod encountered an error" in result.stderr
    assert result.stderr.endswith("Error: failed to install manifests: errors occurred during operation\n")
    waited = call(emu, "istioctl", "x", "wait", "--for=distribution", "--revision=1-20-0", "--timeout=1s")
    assert waited.returncode == 1 and "timeout expired" in waited.stderr


def test_command_failure_fault_fails_only_the_matching_command(emu):
    emu.set_faults({"command_failures": [
        {"tool": "istioctl", "args": ["x", "precheck"], "exit_code": 3, "stderr": "Error: injected precheck"},
        {"tool": "helm", "args": ["list"], "exit_code": 1, "stderr": "Error: Kubernetes cluster unreachable"}]})
    failed = run(emu, "istioctl", "x", "precheck")
    assert (failed.returncode, failed.stderr) == (3, "Error: injected precheck\n")
    assert call(emu, "helm", "list", "-A").returncode == 1
    assert call(emu, "istioctl", "version").returncode == 0


def test_precheck_version_and_analyze_report_a_healthy_cluster(emu):
    precheck = run(emu, "istioctl", "x", "precheck")
    assert precheck.returncode == 0
    assert precheck.stderr.startswith("✔ No issues found when checking the cluster. Istio is safe to install or "
                                      "upgrade!\n")
    version = run(emu, "istioctl", "version", "--short")
    assert version.stdout == ("client version: 1.20.0\ncontrol plane version: 1.19.3\n"
                              "data plane version: 1.19.3 (2 proxies)\n")
    assert "playbook emulator's stand-in" in version.stderr
    analyze = run(emu, "istioctl", "analyze", "-n", "test-namespace")
    assert analyze.returncode == 0
    assert analyze.stderr == "✔ No validation issues found when analyzing namespace: test-namespace.\n"


def test_analyze_reports_bad_injection_labels_with_istio_codes_and_exit_79(emu, client):
    client.patch("v1", "Namespace", "test-namespace", {"metadata": {"labels": {"istio.io/rev": "1-20-0"}}})
    both = call(emu, "istioctl", "analyze", "--all-namespaces")
    assert both.returncode == 0
    assert "Warning [IST0123] (Namespace test-namespace) The namespace has both new and legacy injection labels" \
        in both.stdout
    client.patch("v1", "Namespace", "test-namespace", {"metadata": {"labels": {"istio-injection": None}}})
    missing = run(emu, "istioctl", "analyze", "-A")
    assert missing.returncode == 79
    assert 'Error [IST0101] (Namespace test-namespace) Referenced revision tag or revision not found: "1-20-0"' \
        in missing.stdout
    assert missing.stderr.startswith("Error: Analyzers found issues when analyzing all namespaces.")
    client.create(tag_webhook("canary", "1-18-0"))  # a tag left pointing at a control plane that is gone
    dangling = call(emu, "istioctl", "analyze", "-A", "--suppress", "IST0101=*", "--output-threshold", "Error")
    assert dangling.returncode == 79
    assert dangling.stdout == ("Error [IST0139] (MutatingWebhookConfiguration istio-revision-tag-canary) Injector "
                               "refers to a control plane service that does not exist: istio-system/istiod-1-18-0.\n")
    assert call(emu, "istioctl", "x", "precheck").returncode == 0  # precheck does not run that analyzer


def test_proxy_status_shows_stale_proxies_and_omits_those_of_a_gone_istiod(emu, client, tmp_path):
    client.patch("v1", "ConfigMap", "playbook-emulator-faults",
                 {"data": {"faults.yaml": yaml.safe_dump({"stale_proxies": [{"namespace": "test-namespace",
                                                                             "types": ["EDS"]}]})}}, "kube-system")
    stale = run(emu, "istioctl", "proxy-status")
    rows = [line.split() for line in stale.stdout.splitlines()[1:]]
    assert rows and all(r[2:6] == ["SYNCED", "SYNCED", "STALE", "SYNCED"] for r in rows)
    _set_up_revision(emu, tmp_path)
    client.delete("apps/v1", "Deployment", "istiod", "istio-system")
    deadline = time.monotonic() + 10
    while any(r.name == "default" and r.ready_pods for r in mesh.revisions(client)) and time.monotonic() < deadline:
        time.sleep(0.05)
    gone = run(emu, "istioctl", "proxy-status")
    assert gone.returncode == 0, gone.stderr
    assert ".test-namespace" not in gone.stdout


def test_helm_install_list_and_uninstall_of_an_istiod_revision(emu, client):
    before = _inventory(client)
    installed = run(emu, "helm", "install", "istiod-1-20-0", "istio/istiod", "-n", "istio-system",
                    "--set", "revision=1-20-0", "--set", "pilot.resources.requests.cpu=500m", "--wait")
    assert installed.returncode == 0, installed.stderr
    assert "STATUS: deployed\nREVISION: 1\n" in installed.stdout
    assert mesh.find_revision(client, "1-20-0").ready
    listed = call(emu, "helm", "list", "-n", "istio-system", "-o", "json")
    assert [(r["name"], r["status"], r["chart"]) for r in yaml.safe_load(listed.stdout)] == [
        ("istiod-1-20-0", "deployed", "istiod-1.20.0")]
    secrets = client.list("v1", "Secret", "istio-system", "owner=helm")
    assert [s["metadata"]["name"] for s in secrets] == ["sh.helm.release.v1.istiod-1-20-0.v1"]
    again = call(emu, "helm", "install", "istiod-1-20-0", "istio/istiod", "-n", "istio-system")
    assert again.stderr == "Error: INSTALLATION FAILED: cannot re-use a name that is still in use\n"
    # The gateway chart: a revisioned gateway whose proxies run the revision's image.
    gateway = call(emu, "helm", "install", "istio-ingress", "istio/gateway", "-n", "istio-ingress",
                   "--create-namespace", "--set", "revision=1-20-0", "--wait", "--timeout", "20s")
    assert gateway.returncode == 0, gateway.stderr
    assert [(p.revision, p.version) for p in mesh.proxies(client, "istio-ingress")] == [("1-20-0", "1.20.0")]
    assert call(emu, "helm", "uninstall", "istio-ingress", "-n", "istio-ingress").returncode == 0
    removed = run(emu, "helm", "uninstall", "istiod-1-20-0", "-n", "istio-system")
    assert removed.stdout == 'release "istiod-1-20-0" uninstalled\n'
    assert _inventory(client) == before


def test_helm_base_refuses_objects_another_installer_owns(emu):
    result = run(emu, "helm", "install", "istio-base", "istio/base", "-n", "istio-system",
                 "--set", "defaultRevision=1-20-0")
    assert result.returncode == 1
    assert result.stderr.startswith("Error: INSTALLATION FAILED: rendered manifests contain a resource that "
                                    "already exists.")
    assert call(emu, "helm", "status", "istio-base", "-n", "istio-system").stderr == "Error: release: not found\n"


def test_stand_ins_are_the_emulator_executables_on_path(emu):
    for tool in ("istioctl", "helm"):
        found = shutil.which(tool, path=emu.env()["PATH"])
        assert found and found.startswith(str(emu.bin_dir))
    helped = run(emu, "istioctl", "--help")
    assert helped.returncode == 0 and "playbook emulator's stand-in" in helped.stdout


def test_helm_upgrade_supersedes_and_rollback_returns_to_an_earlier_revision(emu, client):
    # Values on stdin (-f -), the way the engine's helm plugin passes them.
    installed = subprocess.run(
        ["helm", "install", "istiod-1-20-0", "istio/istiod", "-n", "istio-system", "-f", "-", "--wait"],
        input="revision: 1-20-0\n", env={**os.environ, **emu.env()}, capture_output=True, text=True, timeout=60)
    assert installed.returncode == 0, installed.stderr
    upgraded = run(emu, "helm", "upgrade", "--install", "istiod-1-20-0", "istio/istiod", "-n", "istio-system",
                   "--set", "revision=1-20-0", "--set", "pilot.replicaCount=2")
    assert upgraded.stdout.startswith('Release "istiod-1-20-0" has been upgraded. Happy Helming!\n')
    labels = {s["metadata"]["name"]: s["metadata"]["labels"]["status"]
              for s in client.list("v1", "Secret", "istio-system", "owner=helm")}
    assert labels == {"sh.helm.release.v1.istiod-1-20-0.v1": "superseded",
                      "sh.helm.release.v1.istiod-1-20-0.v2": "deployed"}
    assert client.get("apps/v1", "Deployment", "istiod-1-20-0", "istio-system")["spec"]["replicas"] == 2
    values = call(emu, "helm", "get", "values", "istiod-1-20-0", "-n", "istio-system", "-o", "json")
    assert json.loads(values.stdout) == {"revision": "1-20-0", "pilot": {"replicaCount": 2}}
    rolled = call(emu, "helm", "rollback", "istiod-1-20-0", "1", "-n", "istio-system")
    assert rolled.stdout == "Rollback was a success! Happy Helming!\n"
    assert client.get("apps/v1", "Deployment", "istiod-1-20-0", "istio-system")["spec"]["replicas"] == 1
    status = yaml.safe_load(call(emu, "helm", "status", "istiod-1-20-0", "-n", "istio-system", "-o", "json").stdout)
    assert (status["version"], status["info"]["status"], status["info"]["description"]) == (3, "deployed",
                                                                                          "Rollback to 1")
    kept = call(emu, "helm", "uninstall", "istiod-1-20-0", "-n", "istio-system", "--keep-history")
    assert kept.returncode == 0
    assert client.get_or_none("apps/v1", "Deployment", "istiod-1-20-0", "istio-system") is None
    assert call(emu, "helm", "rollback", "istiod-1-20-0", "3", "-n", "istio-system").returncode == 0
    assert client.get_or_none("apps/v1", "Deployment", "istiod-1-20-0", "istio-system") is not None


def test_an_uninstalled_revision_is_reinstalled_from_its_saved_operator(emu, client, tmp_path):
    state = client.get("install.istio.io/v1alpha1", "IstioOperator", "installed-state", "istio-system")
    saved = tmp_path / "saved.yaml"
    saved.write_text(yaml.safe_dump({"apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
                                     "metadata": {"name": "restore", "namespace": "istio-system"},
                                     "spec": state["spec"]}))
    assert call(emu, "istioctl", "uninstall", "--revision", "default", "-y").returncode == 0
    assert client.get_or_none("apps/v1", "Deployment", "istiod", "istio-system") is None
    again = run(emu, "istioctl", "install", "-y", "--revision", "default", "-f", str(saved))
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith("Made this installation the default for injection and validation.\n")
    assert mesh.tags(client) == {"default": "default"}
    istiod = client.get("apps/v1", "Deployment", "istiod", "istio-system")
    assert istiod["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/istio/pilot:1.19.3"


def test_api_errors_and_a_wrong_context_fail_with_one_error_line(emu):
    emu.set_faults({"api_errors": [{"path": "mutatingwebhookconfigurations", "method": "POST", "status": 500}]})
    failed = run(emu, "istioctl", "tag", "set", "canary", "--revision", "default")
    assert failed.returncode == 1
    assert failed.stderr.startswith("Error: ") and len(failed.stderr.splitlines()) == 1
    wrong = call(emu, "istioctl", "--context", "nope", "tag", "list")
    assert wrong.returncode == 1
    assert "context was not found for specified context: nope" in wrong.stderr


def test_an_api_error_during_install_fails_the_component_like_istioctl_and_helm(emu, tmp_path):
    emu.set_faults({"api_errors": [{"path": "/deployments", "method": "POST", "status": 500}]})
    failed = _install(emu, tmp_path)
    assert failed.returncode == 1
    assert "✔ Istio core installed" in failed.stdout
    assert "✘ Istiod encountered an error: failed to update resource" in failed.stderr
    assert failed.stderr.endswith("Error: failed to install manifests: errors occurred during operation\n")
    helmed = call(emu, "helm", "install", "istiod-1-21-0", "istio/istiod", "-n", "istio-system",
                  "--set", "revision=1-21-0")
    assert helmed.returncode == 1 and helmed.stderr.startswith("Error: INSTALLATION FAILED: ")
    assert "rendered manifests" not in helmed.stderr  # the API's error, not an ownership conflict
    listed = call(emu, "helm", "list", "-n", "istio-system", "-o", "json")
    assert [(r["name"], r["status"]) for r in yaml.safe_load(listed.stdout)] == [("istiod-1-21-0", "failed")]


def test_helm_installs_istio_from_scratch_and_uninstall_leaves_only_the_crds(tmp_path):
    bare = {"readiness_delay": 0.05, "namespaces": [
        {"name": "apps", "labels": {"istio-injection": "enabled"}, "deployments": [{"name": "web", "replicas": 1}]}]}
    with Emulator(cluster=bare) as emu:
        kube = KubeClient.from_kubeconfig(str(emu.kubeconfig))
        before = _inventory(kube)
        base = run(emu, "helm", "install", "istio-base", "istio/base", "-n", "istio-system", "--create-namespace")
        assert base.returncode == 0, base.stderr
        assert kube.get_or_none("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                "virtualservices.networking.istio.io") is not None
        istiod = run(emu, "helm", "install", "istiod", "istio/istiod", "-n", "istio-system", "--wait")
        assert istiod.returncode == 0, istiod.stderr
        _migrate(kube, "apps", {})
        assert [(p.revision, p.version) for p in mesh.proxies(kube, "apps")] == [("default", "1.20.0")]
        # istioctl's default tag takes over the base chart's validator but keeps Helm's ownership of it.
        tagged = istioctl.main(["--kubeconfig", str(emu.kubeconfig), "tag", "set", "default", "--revision",
                                "default", "--overwrite"], out=io.StringIO(), err=io.StringIO())
        validator = kube.get("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
                             "istiod-default-validator")
        assert tagged == 0 and validator["metadata"]["labels"]["istio.io/tag"] == "default"
        assert validator["metadata"]["annotations"]["meta.helm.sh/release-name"] == "istio-base"
        assert istioctl.main(["--kubeconfig", str(emu.kubeconfig), "tag", "remove", "default", "-y"],
                             out=io.StringIO(), err=io.StringIO()) == 0
        for release in ("istiod", "istio-base"):
            assert call(emu, "helm", "uninstall", release, "-n", "istio-system").returncode == 0
        assert _inventory(kube) == before
        assert kube.get_or_none("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                "virtualservices.networking.istio.io") is not None
        kube.close()
