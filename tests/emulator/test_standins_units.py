"""Unit-level behaviour of the istioctl/helm stand-ins: argv parsing, manifests, values, output shapes."""
import io
import subprocess
import sys
import textwrap

import pytest
import yaml

from engine.emulator.standins import helm, istioctl
from engine.emulator.standins.analyze import Message, suppressed
from engine.emulator.standins.common import (CommandError, format_duration, matching_failure, parse_duration,
                                             strip_flags, table)
from engine.emulator.standins.helm_charts import chart_name, render
from engine.emulator.standins.helm_release import Release, decode, to_secret
from engine.emulator.standins.helm_values import user_values
from engine.emulator.standins.iop import build_plan, version_for
from engine.emulator.standins.kubeclient import ConfigError, load_connection
from engine.emulator.standins.reports import render_proxy_versions, wait_target

REFERENCE_IOP = textwrap.dedent("""\
    apiVersion: install.istio.io/v1alpha1
    kind: IstioOperator
    metadata: {namespace: istio-system, name: istio-1-20-0}
    spec:
      revision: 1-20-0
      profile: default
      meshConfig:
        accessLogFile: /dev/stdout
        enableAutoMtls: true
        defaultConfig: {tracing: {sampling: 1.0}}
      components:
        pilot:
          enabled: true
          k8s:
            resources: {requests: {cpu: 500m, memory: 2Gi}, limits: {cpu: 1000m, memory: 4Gi}}
            podDisruptionBudget: {minAvailable: 1}
            replicaCount: 2
            affinity:
              podAntiAffinity:
                preferredDuringSchedulingIgnoredDuringExecution:
                - weight: 100
                  podAffinityTerm:
                    labelSelector: {matchLabels: {app: istiod}}
                    topologyKey: kubernetes.io/hostname
        ingressGateways:
        - name: istio-ingressgateway
          enabled: true
          k8s:
            resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 512Mi}}
            replicaCount: 2
            hpaSpec:
              minReplicas: 2
              maxReplicas: 5
              metrics:
              - type: Resource
                resource: {name: cpu, targetAverageUtilization: 80}
    """)


def _obj(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


@pytest.fixture
def reference_manifest(tmp_path):
    path = tmp_path / "istio-1-20-0.yaml"
    path.write_text(REFERENCE_IOP)
    return str(path)


def test_go_durations_parse_and_print_like_go():
    assert parse_duration("300s") == 300
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2.5") == 2.5
    assert format_duration(300) == "5m0s"
    with pytest.raises(CommandError, match="invalid duration"):
        parse_duration("5 minutes")


def test_table_pads_every_column_but_the_last_like_tabwriter():
    text = table([["NAME", "VERSION"], ["a-long-name", "1.20.0"]], padding=5)
    assert text == "NAME" + " " * 12 + "VERSION\n" + "a-long-name" + " " * 5 + "1.20.0\n"


def test_command_failure_matches_a_prefix_of_the_arguments_for_its_tool_only():
    faults = {"command_failures": [{"tool": "istioctl", "args": ["x", "precheck"], "exit_code": 3}]}
    assert matching_failure(faults, "istioctl", ["x", "precheck", "--revision", "1-20-0"])["exit_code"] == 3
    assert matching_failure(faults, "istioctl", ["x", "wait"]) is None
    assert matching_failure(faults, "helm", ["x", "precheck"]) is None


def test_connection_flags_before_the_subcommand_do_not_hide_a_command_failure():
    argv = strip_flags(["--kubeconfig", "/k", "--context=c", "x", "precheck"], ("--kubeconfig", "--context"))
    assert argv == ["x", "precheck"]


def test_reference_operator_manifest_sets_replicas_resources_affinity_pdb_and_hpa(reference_manifest):
    plan = build_plan([reference_manifest], [], None)
    assert (plan.revision, plan.version, plan.profile) == ("1-20-0", "1.20.0", "default")
    istiod = _obj(plan.objects, "Deployment", "istiod-1-20-0")
    assert istiod["spec"]["replicas"] == 2
    pod = istiod["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "1000m", "memory": "4Gi"}
    assert pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"] == 100
    assert _obj(plan.objects, "PodDisruptionBudget", "istiod-1-20-0")["spec"]["minAvailable"] == 1
    gateway = _obj(plan.objects, "Deployment", "istio-ingressgateway-1-20-0")
    assert gateway["spec"]["replicas"] == 2
    hpa = _obj(plan.objects, "HorizontalPodAutoscaler", "istio-ingressgateway-1-20-0")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 5)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 80}
    assert "accessLogFile" in _obj(plan.objects, "ConfigMap", "istio-1-20-0")["data"]["mesh"]
    state = _obj(plan.objects, "IstioOperator", "installed-state-1-20-0")
    assert state["spec"]["revision"] == "1-20-0"
    assert state["spec"]["meshConfig"]["accessLogFile"] == "/dev/stdout"


def test_revision_flag_and_set_flags_override_the_manifest(reference_manifest):
    plan = build_plan([reference_manifest], ["components.pilot.k8s.replicaCount=3", "tag=1.20.1"], "canary")
    assert plan.revision == "canary"
    assert plan.version == "1.20.1"
    assert _obj(plan.objects, "Deployment", "istiod-canary")["spec"]["replicas"] == 3


@pytest.mark.parametrize("sets", [["components.ingressGateways[0].enabled=false"], ["profile=minimal"]])
def test_disabled_ingress_gateway_is_left_out(sets):
    plan = build_plan([], ["revision=1-20-0", *sets], None)
    assert not [o for o in plan.objects if o["metadata"]["name"].startswith("istio-ingressgateway")]
    assert _obj(plan.objects, "Deployment", "istiod-1-20-0")


def test_invalid_revision_is_refused():
    with pytest.raises(CommandError, match="invalid revision"):
        build_plan([], [], "1.20.0")


def test_version_follows_a_version_shaped_revision_else_the_client_version():
    assert version_for("1-19-3") == "1.19.3"
    assert version_for("canary") == "1.20.0"
    assert version_for("canary", "1.21.0") == "1.21.0"


def test_data_plane_summary_counts_proxies_per_version():
    assert render_proxy_versions(["1.20.0", "1.19.3", "1.19.3"]) == "1.19.3 (2 proxies), 1.20.0 (1 proxies)"
    assert render_proxy_versions([]) == "none"


def test_istioctl_parses_the_reference_command_lines():
    parser = istioctl.build_parser()
    args = parser.parse_args(["install", "-f", "x.yaml", "--revision=1-20-0", "-y"])
    assert (args.filename, args.revision, args.yes) == (["x.yaml"], "1-20-0", True)
    args = parser.parse_args(["experimental", "wait", "--for=distribution", "--revision=1-20-0", "--timeout=300s"])
    assert (args.command, args.xcommand, args.revision, args.timeout) == ("x", "wait", "1-20-0", "300s")
    args = parser.parse_args(["tag", "set", "default", "--revision", "1-20-0", "--overwrite"])
    assert (args.command, args.tcommand, args.tag, args.overwrite) == ("tag", "set", "default", True)
    args = parser.parse_args(["uninstall", "--revision=default", "-y"])
    assert (args.revision, args.yes) == ("default", True)
    args = parser.parse_args(["analyze", "--all-namespaces"])
    assert args.all_namespaces


def test_kubeconfig_given_before_the_subcommand_is_kept():
    args = istioctl.build_parser().parse_args(["--kubeconfig", "/k", "version"])
    assert args.kubeconfig == "/k"
    args = helm.build_parser().parse_args(["--kube-context", "c", "list", "-A"])
    assert args.kube_context == "c"


def test_usage_mistakes_print_one_error_line_and_exit_1(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    err = io.StringIO()
    assert istioctl.main(["tag", "set", "default"], out=io.StringIO(), err=err) == 1
    assert err.getvalue().startswith("Error: ")
    err = io.StringIO()
    assert helm.main(["install", "only-a-name"], out=io.StringIO(), err=err) == 1
    assert err.getvalue().startswith("Error: ")


def test_help_and_version_say_they_are_the_emulator_stand_ins(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    for tool in (istioctl, helm):
        out, err = io.StringIO(), io.StringIO()
        args = ["version", "--remote=false"] if tool is istioctl else ["version"]
        assert tool.main(args, out=out, err=err) == 0
        assert "playbook emulator's stand-in" in err.getvalue()
        assert tool.build_parser().format_help().count("playbook emulator's stand-in") == 1


def test_helm_set_values_are_typed_like_helm():
    values = user_values([], ["revision=1-20-0,pilot.replicaCount=2", "global.tag=1.20", "a.b=true"],
                              ["c=42"])
    assert values == {"revision": "1-20-0", "pilot": {"replicaCount": 2}, "global": {"tag": "1.20"},
                      "a": {"b": True}, "c": "42"}


def test_helm_release_secret_round_trips_and_is_labelled_like_helm():
    rel = Release("istiod", "istio-system", 3, "istiod", "1.20.0", "1.20.0", "deployed", {"revision": "x"},
                  [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "istio-system"}}])
    secret = to_secret(rel)
    assert secret["metadata"]["name"] == "sh.helm.release.v1.istiod.v3"
    assert secret["type"] == "helm.sh/release.v1"
    assert secret["metadata"]["labels"]["owner"] == "helm"
    back = decode(secret["data"]["release"])
    assert (back.name, back.version, back.config, back.manifest) == ("istiod", 3, {"revision": "x"}, rel.manifest)


def test_helm_charts_render_revisioned_istiod_and_a_named_gateway():
    rendered = render("istiod", "istiod-1-20-0", "istio-system", {"revision": "1-20-0"}, None)
    names = {(o["kind"], o["metadata"]["name"]) for o in rendered.objects}
    assert ("Deployment", "istiod-1-20-0") in names
    assert not any(kind in ("Namespace", "CustomResourceDefinition", "IstioOperator") for kind, _ in names)
    assert all(o["metadata"]["annotations"]["meta.helm.sh/release-name"] == "istiod-1-20-0"
               for o in rendered.objects)
    gw = render("gateway", "istio-ingress", "istio-ingress", {"revision": "1-20-0"}, None)
    dep = _obj(gw.objects, "Deployment", "istio-ingress")
    assert dep["spec"]["template"]["metadata"]["labels"]["istio.io/rev"] == "1-20-0"
    assert dep["spec"]["template"]["metadata"]["labels"]["istio"] == "ingress"
    assert chart_name("istio/base") == "base"
    with pytest.raises(CommandError, match="not found"):
        chart_name("istio/cni")


def test_x_wait_names_its_target_like_istioctl():
    assert wait_target(["virtual-service", "bar.prod"], "default") == (
        "networking.istio.io/v1alpha3", "VirtualService", "prod", "bar")
    assert wait_target(["vs", "bar"], "default")[2:] == ("default", "bar")
    assert wait_target([], "default") is None
    with pytest.raises(CommandError, match="type not-service is not recognized"):
        wait_target(["not-service", "foo.default"], "default")


def test_stand_ins_import_neither_the_kubernetes_client_nor_other_heavy_libraries():
    # Start-up time: the stand-ins' own imports are stdlib + yaml; the rest is the package they live in.
    code = ("import sys; import engine.emulator as e; before = set(sys.modules); "
            "import engine.emulator.standins.istioctl, engine.emulator.standins.helm; "
            "new = {m.split('.')[0] for m in set(sys.modules) - before}; "
            "print(sorted(new & {'kubernetes', 'aiohttp', 'jinja2', 'networkx', 'click', 'prometheus_client', "
            "'jsonschema', 'asyncio'})); print('kubernetes' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split("\n")[:2] == ["[]", "False"], result.stderr


def test_helm_repo_add_and_update_print_what_helm_prints(monkeypatch, tmp_path):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    out = io.StringIO()
    assert helm.main(["repo", "add", "istio", "https://istio-release.storage.googleapis.com/charts"],
                     out=out, err=io.StringIO()) == 0
    assert out.getvalue() == '"istio" has been added to your repositories\n'
    out = io.StringIO()
    assert helm.main(["repo", "update"], out=out, err=io.StringIO()) == 0
    assert out.getvalue() == ("Hang tight while we grab the latest from your chart repositories...\n"
                              '...Successfully got an update from the "istio" chart repository\n'
                              "Update Complete. ⎈Happy Helming!⎈\n")


def test_kubeconfig_context_selects_server_token_and_namespace(tmp_path, monkeypatch):
    config = {"current-context": "a", "clusters": [{"name": "ca", "cluster": {"server": "http://127.0.0.1:1/"}},
                                                   {"name": "cb", "cluster": {"server": "http://127.0.0.1:2"}}],
              "users": [{"name": "ub", "user": {"token": "secret"}}],
              "contexts": [{"name": "a", "context": {"cluster": "ca"}},
                           {"name": "b", "context": {"cluster": "cb", "user": "ub", "namespace": "team"}}]}
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{path}")
    assert load_connection().server == "http://127.0.0.1:1"
    chosen = load_connection(context="b")
    assert (chosen.server, chosen.token, chosen.namespace) == ("http://127.0.0.1:2", "secret", "team")
    with pytest.raises(ConfigError, match="context was not found for specified context: c"):
        load_connection(str(path), "c")


def test_analyze_suppress_rules_match_code_and_origin_with_wildcards():
    msg = Message("Info", "IST0102", "Namespace default", "not injected")
    assert suppressed(msg, ["IST0102=Namespace default"])
    assert suppressed(msg, ["IST01*=Namespace *"])
    assert not suppressed(msg, ["IST0102=Namespace other"])
    assert not suppressed(msg, ["IST0123"])
