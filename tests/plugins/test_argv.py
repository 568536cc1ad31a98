"""How the cluster CLI plugins turn `with` into argv: the plan shows exactly what will run."""
from __future__ import annotations

import re

import pytest

from engine.errors import ValidationError
from engine.plugins.base import RunOptions
from engine.plugins.cluster import mask_argv
from engine.plugins.helm import HelmPlugin
from engine.plugins.istioctl import IstioctlPlugin
from engine.plugins.kubectl import KubectlPlugin

KUBECTL, ISTIOCTL, HELM = KubectlPlugin(), IstioctlPlugin(), HelmPlugin()
PLAIN = RunOptions()
CTX = RunOptions(context="prod", kubeconfig="/k/config")

CASES = [
    # (plugin, with, options, argv, stdin contains)
    (KUBECTL, {"args": ["get", "pods", "-n", "apps"]}, PLAIN, ["kubectl", "get", "pods", "-n", "apps"], None),
    (KUBECTL, {"args": ["label", "ns", "apps", "istio.io/rev=1-20-0", "--overwrite"]}, CTX,
     ["kubectl", "--context", "prod", "--kubeconfig", "/k/config", "label", "ns", "apps", "istio.io/rev=1-20-0",
      "--overwrite"], None),
    (KUBECTL, {"args": ["get", "ns"], "context": "staging"}, CTX,
     ["kubectl", "--context", "staging", "--kubeconfig", "/k/config", "get", "ns"], None),
    (KUBECTL, {"args": "get pods -o json"}, PLAIN, ["kubectl", "get", "pods", "-o", "json"], None),
    (KUBECTL, {"args": "annotate ns apps 'note=two words'"}, PLAIN,
     ["kubectl", "annotate", "ns", "apps", "note=two words"], None),
    (KUBECTL, {"args": ["scale", "--replicas", 3, "deploy/web"]}, PLAIN,
     ["kubectl", "scale", "--replicas", "3", "deploy/web"], None),
    (KUBECTL, {"apply": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, "namespace": "apps"},
     PLAIN, ["kubectl", "apply", "-f", "-", "-n", "apps"], "kind: ConfigMap"),
    (KUBECTL, {"apply": "kind: Namespace\nmetadata: {name: a}\n---\nkind: Namespace\nmetadata: {name: b}\n",
               "server_side": True}, PLAIN, ["kubectl", "apply", "-f", "-", "--server-side"], "name: b"),
    (KUBECTL, {"apply": {"kind": "Namespace", "metadata": {"name": "a"}}}, RunOptions(dry_run=True,
                                                                                       server_dry_run=True),
     ["kubectl", "apply", "-f", "-", "--dry-run=server"], "name: a"),
    (KUBECTL, {"delete": ["deployment/web", "service/web"], "namespace": "apps"}, PLAIN,
     ["kubectl", "delete", "deployment/web", "service/web", "-n", "apps", "--ignore-not-found"], None),
    (KUBECTL, {"delete": {"kind": "Namespace", "metadata": {"name": "a", "labels": {"x": "y"}}}}, PLAIN,
     ["kubectl", "delete", "-f", "-", "--ignore-not-found"], "name: a"),
    (ISTIOCTL, {"args": ["x", "precheck"]}, CTX,
     ["istioctl", "--context", "prod", "--kubeconfig", "/k/config", "x", "precheck"], None),
    (ISTIOCTL, {"install": {"revision": "1-20-0", "file": "/r/iop.yaml", "set": {"values.pilot.env.X": True}}},
     PLAIN, ["istioctl", "install", "-y", "--revision", "1-20-0", "-f", "/r/iop.yaml", "--set",
             "values.pilot.env.X=true"], None),
    (ISTIOCTL, {"install": {"revision": "canary", "file": ["a.yaml", "b.yaml"], "profile": "minimal"}}, PLAIN,
     ["istioctl", "install", "-y", "--revision", "canary", "-f", "a.yaml", "-f", "b.yaml", "--set",
      "profile=minimal"], None),
    (ISTIOCTL, {"uninstall": {"revision": "default"}, "istio_namespace": "mesh"}, PLAIN,
     ["istioctl", "uninstall", "-y", "--revision", "default", "-i", "mesh"], None),
    (ISTIOCTL, {"tag_set": {"tag": "default", "revision": "1-20-0"}}, PLAIN,
     ["istioctl", "tag", "set", "default", "--revision", "1-20-0", "--overwrite"], None),
    (ISTIOCTL, {"tag_set": {"tag": "prod", "revision": "1-20-0", "overwrite": False}}, PLAIN,
     ["istioctl", "tag", "set", "prod", "--revision", "1-20-0"], None),
    (ISTIOCTL, {"tag_remove": {"tag": "prod"}}, PLAIN, ["istioctl", "tag", "remove", "prod", "-y"], None),
    (HELM, {"args": ["repo", "list"]}, CTX,
     ["helm", "--kube-context", "prod", "--kubeconfig", "/k/config", "repo", "list"], None),
    (HELM, {"install": {"release": "istio-base", "chart": "istio/base", "namespace": "istio-system",
                        "set": {"defaultRevision": "1-20-0"}, "create_namespace": True}}, PLAIN,
     ["helm", "install", "istio-base", "istio/base", "-n", "istio-system", "--create-namespace", "--set",
      "defaultRevision=1-20-0"], None),
    (HELM, {"upgrade": {"release": "istiod-1-20-0", "chart": "istio/istiod", "namespace": "istio-system",
                        "values": {"revision": "1-20-0", "pilot": {"replicaCount": 2}}, "version": "1.20.0",
                        "wait": True}}, PLAIN,
     ["helm", "upgrade", "--install", "istiod-1-20-0", "istio/istiod", "-n", "istio-system", "--version", "1.20.0",
      "-f", "-", "--wait"], "replicaCount: 2"),
    (HELM, {"upgrade": {"release": "r", "chart": "c", "install": False, "values_file": ["v1.yaml", "v2.yaml"]}},
     PLAIN, ["helm", "upgrade", "r", "c", "-f", "v1.yaml", "-f", "v2.yaml"], None),
    (HELM, {"uninstall": {"release": "istiod", "namespace": "istio-system"}}, PLAIN,
     ["helm", "uninstall", "istiod", "-n", "istio-system", "--keep-history"], None),
    (HELM, {"rollback": {"release": "istiod", "revision": 3}}, PLAIN, ["helm", "rollback", "istiod", "3"], None),
]


@pytest.mark.parametrize("plugin,args,options,argv,stdin", CASES,
                         ids=[f"{c[0].name}-{i}" for i, c in enumerate(CASES)])
def test_structured_forms_build_the_exact_argv(plugin, args, options, argv, stdin):
    built, inv = plugin.argv(args, options)
    assert built == argv
    if stdin is None:
        assert inv.stdin is None
    else:
        assert stdin in inv.stdin


@pytest.mark.parametrize("plugin,args,options,argv,stdin", CASES[:5], ids=[str(i) for i in range(5)])
def test_the_dry_run_description_is_the_argv_as_a_shell_line(plugin, args, options, argv, stdin):
    import shlex
    assert plugin.describe(args, options) == "$ " + shlex.join(argv)


def test_description_tells_what_goes_on_stdin():
    text = KUBECTL.describe({"apply": "kind: Namespace\nmetadata: {name: a}\n---\n"
                                      "kind: ConfigMap\nmetadata: {name: c, namespace: a}\n"}, PLAIN)
    assert text == "$ kubectl apply -f -  <<< 2 objects: Namespace/a, ConfigMap/a/c"


@pytest.mark.parametrize("env_var,plugin", [("PLAYBOOK_KUBECTL", KUBECTL), ("PLAYBOOK_ISTIOCTL", ISTIOCTL),
                                            ("PLAYBOOK_HELM", HELM)])
def test_binary_override_goes_first_in_argv(env_var, plugin):
    options = RunOptions(env={env_var: "/opt/tools/bin/x-1.20"})
    argv, _ = plugin.argv({"args": ["version"]}, options)
    assert argv == ["/opt/tools/bin/x-1.20", "version"]


@pytest.mark.parametrize("argv,shown", [
    (["kubectl", "--token", "abc", "get", "ns"], ["kubectl", "--token", "***", "get", "ns"]),
    (["kubectl", "--token=abc", "get", "ns"], ["kubectl", "--token=***", "get", "ns"]),
    (["helm", "install", "r", "c", "--set", "auth.password=hunter2", "--set", "replicas=2"],
     ["helm", "install", "r", "c", "--set", "auth.password=***", "--set", "replicas=2"]),
    (["helm", "install", "--set=db.secretKey=s3"], ["helm", "install", "--set=db.secretKey=***"]),
    (["kubectl", "get", "secret", "token"], ["kubectl", "get", "secret", "token"]),
])
def test_credentials_in_argv_are_masked(argv, shown):
    assert mask_argv(argv) == shown


@pytest.mark.parametrize("plugin,args,message", [
    (KUBECTL, {}, "give one of args, apply, delete"),
    (KUBECTL, {"args": ["get"], "apply": {"kind": "A", "metadata": {"name": "a"}}},
     "give only one of args, apply, delete (got args and apply)"),
    (ISTIOCTL, {"install": {"revision": "a"}, "uninstall": {"revision": "a"}},
     "give only one of args, install, uninstall, tag_set, tag_remove (got install and uninstall)"),
    (HELM, {}, "give one of args, install, upgrade, uninstall, rollback"),
])
def test_a_step_with_no_form_or_two_forms_cannot_build_an_argv(plugin, args, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        plugin.argv(args, PLAIN)


@pytest.mark.parametrize("manifest,error", [
    ("kind: [", "not YAML"),
    ("- just a list item", "must be a mapping"),
    ({"kind": "ConfigMap"}, "needs `kind` and `metadata.name`"),
])
def test_bad_manifests_are_refused_with_the_reason(manifest, error):
    with pytest.raises(ValidationError, match=error.replace("`", ".")):
        KUBECTL.argv({"apply": manifest}, PLAIN)


def test_values_known_only_at_run_time_are_planned_as_placeholders():
    from engine.render import Placeholder
    assert KUBECTL.describe({"apply": Placeholder("steps.render.stdout"), "namespace": "a"}, PLAIN) == \
        "$ kubectl apply -f - -n a  <<< <steps.render.stdout>"
    assert ISTIOCTL.describe({"install": {"revision": "r", "file": Placeholder("steps.iop.path")}}, PLAIN) == \
        "$ istioctl install -y --revision r -f '<steps.iop.path>'"


SAVED_FRESH = [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fresh"}}]


@pytest.mark.parametrize("saved,shown", [
    ({"undo_apply": {"delete": SAVED_FRESH, "restore": "/r/saved/apply.yaml"}, "namespace": "apps"},
     "$ kubectl --context c1 delete -f - -n apps --ignore-not-found  <<< 1 object: ConfigMap/fresh; "
     "then $ kubectl --context c1 apply -f /r/saved/apply.yaml -n apps"),
    ({"undo_apply": {"delete": [], "restore": "/r/saved/apply.yaml"}},
     "$ kubectl --context c1 apply -f /r/saved/apply.yaml"),
    ({"undo_apply": {"delete": [], "restore": None}}, "nothing to undo"),
])
def test_an_apply_is_undone_by_its_hook_from_what_it_saved_on_the_same_cluster(saved, shown):
    from engine.api import Outcome
    done = Outcome(ok=True, outputs={"undo": saved})
    assert KUBECTL.describe_undo({"apply": "x", "context": "c1"}, done, PLAIN) == shown
