"""Each finding code has a fixture cluster that triggers it, and the rehearsal's report names it: in the
terminal summary, the Markdown and the JSON, with the objects involved and a fix. The healthy base cluster
triggers none."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.rehearse.findings import CATALOGUE
from engine.rehearse.rehearsal import RehearsalOptions, rehearse
from engine.rehearse.report import markdown, text, write_all

FIXTURES = Path(__file__).parent / "fixtures"
CANARY = Path(__file__).parents[2] / "playbooks" / "canary-upgrade.yaml"
# leftover_pods=proceed: the canary playbook reports a bare pod it will not kill and goes on (its default waits
# up to 30 minutes for it to go).
VARS = {"rev": "1-20-0", "soak_between_waves": "0s", "soak_before_promote": "0s", "rollout_timeout": "20s",
        "leftover_pods": "proceed", "waves": [{"name": "all", "namespaces": ["apps"]}]}

# fixture -> (code, an object the finding must name)
CASES = {
    "RH101-pdb-blocks-restart": ("RH101", "PodDisruptionBudget apps/web"),
    "RH102-injection-webhook-overlap": ("RH102", "MutatingWebhookConfiguration istio-sidecar-injector-istio-system"),
    "RH103-tag-collision": ("RH103", "MutatingWebhookConfiguration istio-revision-tag-1-20-0"),
    "RH104-old-proxies-remain": ("RH104", "Pod apps/debug"),
    "RH105-injected-namespace-in-no-wave": ("RH105", "Namespace legacy"),
    "RH106-insufficient-capacity": ("RH106", "Node small-node"),
    "RH107-step-failed": ("RH107", "step precheck"),
    "RH108-workload-downtime": ("RH108", "Deployment apps/web"),
}


def _rehearse(fixture: str, tmp_path: Path):
    return rehearse(CANARY, FIXTURES / f"{fixture}.yaml", tmp_path / "out",
                    RehearsalOptions(vars=dict(VARS), readiness_delay=0.05))


def test_every_code_in_the_catalogue_has_a_fixture():
    assert sorted(code for code, _ in CASES.values()) == sorted(CATALOGUE)
    assert sorted(p.stem for p in FIXTURES.glob("RH*.yaml")) == sorted(CASES)


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_the_fixture_triggers_its_finding_and_the_report_names_it(fixture, tmp_path):
    code, obj = CASES[fixture]
    report = _rehearse(fixture, tmp_path)
    hits = [f for f in report.findings if f.code == code]
    assert hits, f"{code} not found; findings: {[(f.code, f.message) for f in report.findings]}"
    assert any(obj in f.objects for f in hits), [f.objects for f in hits]
    assert all(f.fix for f in hits)
    assert report.verdict == ("go-with-warnings" if CATALOGUE[code].severity == "warning"
                              and all(f.severity == "warning" for f in report.findings) else "no-go")
    slug = CATALOGUE[code].slug
    assert f"{code} {slug}" in text(report) and f"### {code} {slug}" in markdown(report)
    paths = write_all(report, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert any(f["code"] == code and obj in f["objects"] for f in data["findings"])
    assert code in paths["html"].read_text()


def test_a_healthy_cluster_has_no_findings_and_the_change_goes(tmp_path):
    report = _rehearse("base", tmp_path)
    assert report.findings == [] and report.verdict == "go"
    assert report.run["exit_code"] == 0 and report.run["status"] == "succeeded"
    assert report.downtime == {"Deployment apps/web": 0, "Deployment istio-system/istiod": 0,
                               "Deployment istio-system/istiod-1-20-0": 0,
                               "Deployment istio-system/istio-ingressgateway-1-20-0": 0}


def test_moving_some_namespaces_to_an_existing_revision_is_no_collision_and_needs_no_wave(tmp_path):
    migrate = CANARY.with_name("migrate-namespaces.yaml")
    report = rehearse(migrate, FIXTURES / "two-revisions.yaml", tmp_path / "out",
                      RehearsalOptions(vars={"rev": "1-20-0", "namespaces_to_move": ["apps"]}, readiness_delay=0.05))
    assert report.run["exit_code"] == 0 and report.findings == [] and report.verdict == "go"


def test_installing_a_revision_that_exists_is_a_collision(tmp_path):
    report = rehearse(CANARY, FIXTURES / "two-revisions.yaml", tmp_path / "out",
                      RehearsalOptions(vars={**VARS, "waves": [{"name": "all", "namespaces": ["apps", "other"]}]},
                                       readiness_delay=0.05))
    assert ("RH103", ("Deployment istio-system/istiod-1-20-0",)) in [(f.code, f.objects) for f in report.findings]
