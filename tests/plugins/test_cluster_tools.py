"""kubectl, istioctl and helm run for real against the emulator (real kubectl, the istioctl/helm stand-ins),
and their natural rollbacks leave the cluster as it was."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="the real kubectl is not on PATH")


def kubectl_json(emu, *args):
    done = subprocess.run(["kubectl", *args, "-o", "json"], env={**os.environ, **emu.env()}, capture_output=True,
                          text=True, timeout=30)
    return json.loads(done.stdout) if done.returncode == 0 else None


FAIL_AT_END = """
          - id: boom
            needs: [{last}]
            uses: command
            with: {{args: ["false"]}}
"""


@needs_kubectl
def test_apply_is_undone_new_objects_deleted_changed_ones_restored(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: apply
            uses: kubectl
            with:
              namespace: apps
              apply:
                - {apiVersion: v1, kind: ConfigMap, metadata: {name: fresh}, data: {a: "1"}}
                - apiVersion: v1
                  kind: Namespace
                  metadata: {name: apps, labels: {istio-injection: disabled, team: mesh}}
          - id: seen
            needs: [apply]
            uses: assert
            with: {that: "k8s_get('namespace', 'apps').metadata.labels.team == 'mesh'"}
    """ + FAIL_AT_END.format(last="seen"), emu=emu)
    assert ran.code == 1
    out = ran.summary.results["apply"].outcome.outputs
    assert out["created"] == ["ConfigMap/fresh"] and out["changed"] == ["Namespace/apps"]
    assert ran.summary.rolled_back == ["apply"]
    assert kubectl_json(emu, "get", "configmap", "fresh", "-n", "apps") is None
    labels = kubectl_json(emu, "get", "namespace", "apps")["metadata"]["labels"]
    assert labels.get("istio-injection") == "enabled" and "team" not in labels
    saved = (ran.run_dir / "saved" / "apply.yaml").read_text()
    assert "kind: Namespace" in saved and "istio-injection: enabled" in saved and "resourceVersion" not in saved


@needs_kubectl
def test_delete_is_undone_by_re_applying_what_was_saved(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: drop
            uses: kubectl
            with: {delete: [service/web], namespace: apps}
    """ + FAIL_AT_END.format(last="drop"), emu=emu)
    assert ran.summary.rolled_back == ["drop"], ran.events
    assert kubectl_json(emu, "get", "service", "web", "-n", "apps")["metadata"]["name"] == "web"


@needs_kubectl
def test_args_output_in_json_is_parsed_into_steps_json(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: deps
            uses: kubectl
            with: {args: [get, deployments, -n, apps, -o, json]}
          - id: check
            needs: [deps]
            uses: assert
            with: {that: "steps.deps.json['items'] | map(attribute='metadata.name') | list == ['web']"}
    """, emu=emu)
    assert ran.code == 0, ran.outcome("check").message


def test_istioctl_install_tag_and_their_rollbacks(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: install
            uses: istioctl
            with: {install: {revision: canary}}
          - id: tag
            needs: [install]
            uses: istioctl
            with: {tag_set: {tag: default, revision: canary}}
          - id: check
            needs: [tag]
            uses: assert
            with:
              that:
                - "'canary' in revisions()"
                - "(revisions() | selectattr('name', 'eq', 'canary') | first).tags == ['default']"
    """ + FAIL_AT_END.format(last="check"), emu=emu)
    assert ran.code == 1, [(k, r.outcome.message) for k, r in ran.summary.results.items() if r.outcome]
    assert ran.outcome("check").ok
    assert ran.summary.rolled_back == ["tag", "install"]
    assert kubectl_json(emu, "get", "deployment", "istiod-canary", "-n", "istio-system") is None
    assert kubectl_json(emu, "get", "mutatingwebhookconfiguration", "istio-revision-tag-default") is None
    assert ran.outcome("install").outputs["revision_was_new"] is True


def test_istioctl_uninstall_is_undone_from_the_saved_operator(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: remove
            uses: istioctl
            with: {uninstall: {revision: default}}
    """ + FAIL_AT_END.format(last="remove"), emu=emu)
    assert ran.summary.rolled_back == ["remove"], ran.outcome("remove").message
    assert kubectl_json(emu, "get", "deployment", "istiod", "-n", "istio-system")["metadata"]["name"] == "istiod"


def test_helm_install_upgrade_and_their_rollbacks(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: istiod
            uses: helm
            with:
              install: {release: istiod-canary, chart: istio/istiod, namespace: istio-system,
                        values: {revision: canary}}
          - id: again
            needs: [istiod]
            uses: helm
            with:
              upgrade: {release: istiod-canary, chart: istio/istiod, namespace: istio-system,
                        values: {revision: canary, pilot: {replicaCount: 2}}}
          - id: status
            needs: [again]
            uses: helm
            with: {args: [status, istiod-canary, -n, istio-system, -o, json]}
    """ + FAIL_AT_END.format(last="status"), emu=emu)
    assert ran.outcome("status") is not None, [(k, r.outcome.message) for k, r in ran.summary.results.items()
                                               if r.outcome]
    assert ran.outcome("status").json["version"] == 2, ran.outcome("status").stdout
    assert ran.outcome("again").outputs["previous_revision"] == 1
    assert ran.code == 1
    assert ran.summary.rolled_back == ["again", "istiod"]
    assert kubectl_json(emu, "get", "deployment", "istiod-canary", "-n", "istio-system") is None


def test_a_failed_helm_install_of_an_existing_release_does_not_uninstall_it(run_book, emu):
    first = run_book("""
        version: 1
        steps:
          - id: istiod
            uses: helm
            with: {install: {release: istiod-canary, chart: istio/istiod, namespace: istio-system,
                             values: {revision: canary}}}
    """, emu=emu)
    assert first.code == 0, first.outcome("istiod").message
    second = run_book("""
        version: 1
        steps:
          - id: istiod
            uses: helm
            with: {install: {release: istiod-canary, chart: istio/istiod, namespace: istio-system,
                             values: {revision: canary}}}
    """, emu=emu)
    assert second.code == 1
    assert second.summary.rolled_back == []
    assert kubectl_json(emu, "get", "deployment", "istiod-canary", "-n", "istio-system") is not None


def test_a_tag_set_that_failed_before_making_the_tag_rolls_back_cleanly(run_book, emu):
    emu.set_faults({"command_failures": [{"tool": "istioctl", "args": ["tag", "set"], "exit_code": 1,
                                          "stderr": "Error: injected"}]})
    try:
        ran = run_book("""
            version: 1
            steps:
              - id: tag
                uses: istioctl
                with: {tag_set: {tag: canary, revision: default}}
        """, emu=emu)
    finally:
        emu.set_faults({})
    assert ran.code == 1, [e.data for e in ran.events if e.kind.startswith("rollback")]
    assert ran.summary.rollback_failed == []
    assert kubectl_json(emu, "get", "mutatingwebhookconfiguration", "istio-revision-tag-canary") is None


@needs_kubectl
def test_server_dry_run_plans_show_what_the_api_server_says_and_change_nothing(emu, project):
    from engine.plugins.kubectl import KubectlPlugin
    from tests.plugins.conftest import options_for
    opts = options_for(emu, dry_run=True, server_dry_run=True)
    good = {"apply": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dry"}}, "namespace": "apps"}
    bad = {"apply": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad"},
                     "spec": {"replicas": -1}}, "namespace": "apps"}
    plugin = KubectlPlugin()
    lines = plugin.describe(good, opts).splitlines()
    assert lines[0].endswith("apply -f - -n apps --dry-run=server  <<< 1 object: ConfigMap/dry")
    assert lines[1] == "server check: accepted: configmap/dry created (server dry run)"
    rejected = plugin.describe(bad, opts).splitlines()[1]
    assert rejected.startswith("server check: REJECTED: ") and "spec.replicas: Invalid value: -1" in rejected
    assert kubectl_json(emu, "get", "configmap", "dry", "-n", "apps") is None
    assert len(plugin.describe(good, options_for(emu, dry_run=True)).splitlines()) == 1  # asked for, or not at all


@needs_kubectl
def test_a_step_may_name_its_own_kubeconfig_and_context(run_book, emu):
    from engine.plugins.base import RunOptions
    ran = run_book(f"""
        version: 1
        steps:
          - id: own
            uses: kubectl
            with: {{args: [get, namespace, apps, -o, json], kubeconfig: "{emu.kubeconfig}", context: emulator}}
          - id: wrong-context
            uses: kubectl
            with: {{args: [get, namespace, apps], kubeconfig: "{emu.kubeconfig}", context: nowhere}}
            continue_on_error: true
    """, options=RunOptions(env={"KUBECONFIG": "/nonexistent"}))
    assert ran.outcome("own").json["metadata"]["name"] == "apps"
    assert ran.outcome("own").argv[:5] == ["kubectl", "--context", "emulator", "--kubeconfig", str(emu.kubeconfig)]
    assert not ran.outcome("wrong-context").ok and "nowhere" in ran.outcome("wrong-context").message


def test_re_installing_an_existing_revision_is_undone_from_its_saved_operator(run_book, emu):
    ran = run_book("""
        version: 1
        steps:
          - id: reinstall
            uses: istioctl
            with: {install: {revision: default, set: {values.pilot.env.X: "1"}}}
    """ + FAIL_AT_END.format(last="reinstall"), emu=emu)
    outputs = ran.outcome("reinstall").outputs
    assert outputs["revision_was_new"] is False
    assert outputs["undo"]["install"] == {"revision": "default", "file": outputs["saved"]}
    assert ran.summary.rolled_back == ["reinstall"]
    assert kubectl_json(emu, "get", "deployment", "istiod", "-n", "istio-system") is not None


def test_a_manifest_bringing_its_own_crd_is_checked_object_by_object(run_book, tmp_path):
    """`kubectl get -f -` fails for a kind the server does not know yet; such objects count as new."""
    log = tmp_path / "calls"
    fake = tmp_path / "kubectl"
    fake.write_text(f"""#!/bin/sh
stdin=$(cat)
echo "$* :: $(echo "$stdin" | grep '^kind:' | tr '\\n' ' ')" >> {log}
case "$*" in
  *get*)
    case "$stdin" in
      *Widget*) echo 'error: resource mapping not found for name: "w" namespace: "": no matches for kind "Widget"' >&2
                exit 1;;
      *) echo '{{"kind": "CustomResourceDefinition", "apiVersion": "apiextensions.k8s.io/v1", "metadata": {{"name": "widgets.example.com", "resourceVersion": "7"}}}}';;
    esac;;
  *) echo applied;;
esac
""")
    fake.chmod(0o755)
    from engine.plugins.base import RunOptions
    ran = run_book("""
        version: 1
        steps:
          - id: crd-and-cr
            uses: kubectl
            with:
              apply:
                - {apiVersion: apiextensions.k8s.io/v1, kind: CustomResourceDefinition,
                   metadata: {name: widgets.example.com}}
                - {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}
    """, options=RunOptions(env={"PLAYBOOK_KUBECTL": str(fake)}))
    outputs = ran.outcome("crd-and-cr").outputs
    assert ran.code == 0, ran.outcome("crd-and-cr").message
    assert (outputs["changed"], outputs["created"]) == (["CustomResourceDefinition/widgets.example.com"],
                                                       ["Widget/w"])
    assert outputs["undo"]["undo_apply"]["delete"] == [{"apiVersion": "example.com/v1", "kind": "Widget",
                                                        "metadata": {"name": "w"}}]
    calls = log.read_text().splitlines()
    assert len(calls) == 4 and calls[-1].startswith("apply -f -")
