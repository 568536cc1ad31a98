"""The main job, `playbook run playbooks/canary-upgrade.yaml --var rev=1-20-0`, end to end on the emulator:
every pod ends on the new proxy, the default tag points at the new revision, the old control plane is gone,
and the downtime monitor saw no deployment at zero ready replicas; with istioctl and with Helm."""
from __future__ import annotations

import subprocess

import pytest

from e2e_harness import FAST, cluster_state, downtime, run_playbook, wait_settled

NEW_PROXY = "docker.io/istio/proxyv2:1.20.0"
OLD_PROXY = "docker.io/istio/proxyv2:1.19.3"


def assert_upgraded(emu, namespaces: list[str]) -> dict:
    wait_settled(emu)
    state = cluster_state(emu)
    workloads = {k: v for k, v in state["proxies"].items() if k.split("/")[0] in namespaces}
    assert workloads, "no workloads found in the migrated namespaces"
    assert all(images and set(images) == {NEW_PROXY} for images in workloads.values()), workloads
    for ns in namespaces:
        assert state["labels"][ns] == {"istio.io/rev": "1-20-0"}, state["labels"][ns]
    # The default tag points at the new revision, and only the new control plane is left.
    assert "istio-revision-tag-default" in state["mutating_webhooks"]
    assert "istio-sidecar-injector" not in state["mutating_webhooks"]
    assert [d for d in state["deployments"] if d.startswith("istiod")] == ["istiod-1-20-0"]
    assert "istio" not in state["configmaps"] and "istio-sidecar-injector" not in state["configmaps"]
    tag = next(o for o in emu.state()["items"] if o["kind"] == "MutatingWebhookConfiguration"
               and o["metadata"]["name"] == "istio-revision-tag-default")
    assert tag["metadata"]["labels"]["istio.io/rev"] == "1-20-0"
    assert downtime(emu) == {}, emu.format_downtime_report()
    return state


DEMO_NAMESPACES = ["test-namespace", "staging-namespace", "production-namespace-1", "production-namespace-2"]


def test_istioctl_upgrade_of_the_demo_cluster_moves_every_pod_with_zero_downtime(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    assert set(before["proxies"]["test-namespace/frontend"]) == {OLD_PROXY}

    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", *FAST, tmp=tmp_path)

    assert run.rc == 0, run.why()
    finished = run.finished()
    assert finished["exit_code"] == 0 and finished["failed"] == [] and finished["rolled_back"] == []
    # Waves ran in order: test, then staging, then production.
    relabels = [k for k in run.keys("step_started") if k.endswith(".relabel")]
    assert relabels == [f"migrate[{w}].batch[{b}].ns[{ns}].relabel" for w, b, ns in
                        [("test", 1, "test-namespace"), ("staging", 1, "staging-namespace"),
                         ("production", 1, "production-namespace-1"), ("production", 2, "production-namespace-2")]]
    state = assert_upgraded(emu, DEMO_NAMESPACES)
    # The revisioned gateway now takes the traffic; the old one went with the old control plane.
    assert state["gateway_selector"]["istio.io/rev"] == "1-20-0"
    assert state["proxies"]["istio-system/istio-ingressgateway"] == [NEW_PROXY, NEW_PROXY]
    assert "istio-ingressgateway" not in state["deployments"]
    # The backup and the proxy inventory are in the run's directory.
    outputs = list((tmp_path / "runs").glob("*/output/*"))
    names = " ".join(p.name for p in outputs)
    assert "backup-istio-operator" in names and "proxy-images-before" in names, names


def helm_cluster(emulator_factory):
    """A mesh installed with Helm (base + istiod 1.19.3, no revision), its namespaces injected by it."""
    cluster = {"nodes": 3, "namespaces": [
        {"name": name, "labels": {"istio-injection": "enabled"},
         "deployments": [{"name": "web", "replicas": 2, "maxSurge": 1, "maxUnavailable": 0}]}
        for name in ("test-namespace", "staging-namespace", "production-namespace-1")]}
    emu = emulator_factory(cluster)
    env = {**__import__("os").environ, **emu.env()}

    def sh(*argv: str) -> None:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{argv}: {done.stderr}"

    sh("helm", "install", "istio-base", "istio/base", "-n", "istio-system", "--create-namespace", "--version", "1.19.3")
    sh("helm", "install", "istiod", "istio/istiod", "-n", "istio-system", "--version", "1.19.3", "--wait")
    for ns in ("test-namespace", "staging-namespace", "production-namespace-1"):
        sh("kubectl", "rollout", "restart", "deployment", "-n", ns)
        sh("kubectl", "rollout", "status", "deployment", "-n", ns, "--timeout=30s")
    wait_settled(emu)
    return emu


def test_helm_upgrade_installs_the_istiod_chart_and_moves_default_revision(emulator_factory, tmp_path):
    emu = helm_cluster(emulator_factory)
    before = cluster_state(emu)
    assert set(before["proxies"]["staging-namespace/web"]) == {OLD_PROXY}
    waves = ("waves=[{name: test, namespaces: [test-namespace]}, {name: staging, namespaces: [staging-namespace]},"
             " {name: production, namespaces: [production-namespace-1], confirm: true}]")

    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", "--var", "installer=helm",
                       "--var", waves, *FAST, tmp=tmp_path)

    assert run.rc == 0, run.why()
    started = run.keys("step_started")
    assert "helm-base-upgrade" in started and "install-helm" in started and "install-istioctl" not in started
    assert "promote.remove-old-helm" in started and "promote.helm-default-revision" in started
    assert_upgraded(emu, ["test-namespace", "staging-namespace", "production-namespace-1"])
    env = {**__import__("os").environ, **emu.env()}
    releases = subprocess.run(["helm", "list", "-n", "istio-system", "-q"], env=env, capture_output=True,
                              text=True).stdout.split()
    assert sorted(releases) == ["istio-base", "istiod-1-20-0"]
    validator = next(o for o in emu.state()["items"] if o["kind"] == "ValidatingWebhookConfiguration"
                     and o["metadata"]["name"] == "istiod-default-validator")
    assert validator["webhooks"][0]["clientConfig"]["service"]["name"] == "istiod-1-20-0"


@pytest.mark.large
def test_upgrade_of_a_cluster_with_20_namespaces_and_100_deployments(emulator_factory, tmp_path):
    cluster = {"nodes": 6, "istio": [{"revision": "default", "version": "1.19.3", "gateway": True}],
               "namespaces": [{"name": "team-{i}", "count": 20, "labels": {"istio-injection": "enabled"},
                               "deployments": {"count": 5, "name": "svc-{i}", "replicas": 1,
                                               "maxSurge": 1, "maxUnavailable": 0}}]}
    emu = emulator_factory(cluster, readiness_delay=0.02)
    teams = [f"team-{i}" for i in range(1, 21)]
    assert sum(1 for k in cluster_state(emu)["proxies"] if k.startswith("team-")) == 100
    vars_file = tmp_path / "waves.yaml"
    vars_file.write_text("waves:\n"
                         f"  - {{name: test, namespaces: [{', '.join(teams[:2])}]}}\n"
                         f"  - {{name: staging, namespaces: [{', '.join(teams[2:6])}]}}\n"
                         f"  - {{name: production, namespaces: [{', '.join(teams[6:])}], confirm: true}}\n")

    run = run_playbook(emu, "canary-upgrade.yaml", "--var", "rev=1-20-0", "--vars-file", str(vars_file), *FAST,
                       tmp=tmp_path, timeout=400)

    assert run.rc == 0, run.why()
    assert_upgraded(emu, teams)
