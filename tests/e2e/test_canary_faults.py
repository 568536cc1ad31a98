"""Each fault the issue names makes the canary upgrade roll back, and the cluster ends as it began: the same
namespace labels, the same proxies on every workload, the new revision removed, no downtime; the exit code
is 1 and the report names the step that failed and what was undone."""
from __future__ import annotations

import http.server
import shutil
import threading

import pytest

from e2e_harness import FAST, cluster_state, downtime, run_playbook, wait_settled
from test_canary_upgrade import helm_cluster

NEW = ["--var", "rev=1-20-0", "--var", "rollout_timeout=8s", *FAST]


def assert_back_as_it_began(emu, before: dict) -> None:
    wait_settled(emu)
    after = cluster_state(emu)
    assert after == before, {k: (before[k], after[k]) for k in before if before[k] != after[k]}
    assert downtime(emu) == {}, emu.format_downtime_report()


def assert_rolled_back(run, failed: str) -> None:
    """Exit 1, the report names the one failed step, every rollback succeeded."""
    assert run.rc == 1, run.why()
    finished = run.finished()
    assert finished["failed"] == [failed]
    assert finished["rollback_failed"] == []
    # The new revision is the last thing undone: uninstalled after every namespace went back.
    assert finished["rolled_back"][-1] == "install-istioctl"


def test_new_istiod_never_ready_uninstalls_the_revision_and_says_so(emulator_factory, tmp_path):
    emu = emulator_factory(faults={"istiod_never_ready": ["1-20-0"]})
    before = cluster_state(emu)

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, tmp=tmp_path, json_events=False)

    assert run.rc == 1, run.why()
    # The text report: what failed and what was undone.
    assert "run failed at install-istioctl; rollback completed (exit 1)" in run.out
    assert "istioctl uninstall -y --revision 1-20-0" in run.out
    rows = [line.split() for line in run.out.splitlines() if line.startswith(("install-istioctl ", "migrate["))]
    assert ["install-istioctl", "⟲", "rolled_back"] == rows[0][:3] and rows[0][-1] == "succeeded", rows[0]
    assert all("not_run" in row for row in rows[1:]), rows  # no namespace was touched
    assert_back_as_it_began(emu, before)


def test_rollout_stuck_in_the_production_wave_moves_every_namespace_back(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    # From now on, new pods of production-namespace-1/web never become Ready: the new sidecar breaks it.
    emu.set_faults({"stuck_rollouts": [{"namespace": "production-namespace-1", "deployment": "web"}]})

    def on_event(event: dict) -> None:
        # The emulator's fault does not know which proxy a pod has; backing out the new revision is what
        # mends it in this story, so the fault ends when the rollback begins.
        if event["event"] == "rollback_begun":
            emu.set_faults({})

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, tmp=tmp_path, on_event=on_event)

    failed = "migrate[production].batch[1].ns[production-namespace-1].settled"
    assert_rolled_back(run, failed)
    undone = run.finished()["rolled_back"]
    # Namespaces go back newest first, each: labels back, restart, wait for the old proxies.
    relabels = [k for k in undone if k.endswith(".relabel")]
    assert relabels == ["migrate[production].batch[1].ns[production-namespace-1].relabel",
                        "migrate[staging].batch[1].ns[staging-namespace].relabel",
                        "migrate[test].batch[1].ns[test-namespace].relabel"]
    prod1 = [k.rsplit(".", 1)[1] for k in undone if ".batch[1].ns[production-namespace-1]." in k]
    # label back, a second, restart, wait for the DaemonSets, the StatefulSets, the Deployments
    assert prod1 == ["relabel", "announce", "baseline", "baseline-daemonsets", "baseline-statefulsets", "record"]
    assert "production-namespace-2" not in " ".join(run.keys("step_started"))
    assert_back_as_it_began(emu, before)


class _Health(http.server.BaseHTTPRequestHandler):
    """GET /<namespace>/healthz: 503 for the namespaces in `failing`, 200 otherwise."""

    failing: set[str] = set()

    def do_GET(self) -> None:  # noqa: N802 — the http.server API
        namespace = self.path.strip("/").split("/")[0]
        self.send_response(503 if namespace in self.failing else 200)
        self.end_headers()
        self.wfile.write(b"unhealthy\n" if namespace in self.failing else b"ok\n")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def health_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}" + "/{namespace}/healthz"
    server.shutdown()


def test_failing_health_probe_in_production_rolls_everything_back(emulator_factory, tmp_path, health_server):
    emu = emulator_factory()
    before = cluster_state(emu)
    _Health.failing = {"production-namespace-2"}

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, "--var", f"health_url={health_server}", tmp=tmp_path)

    failed = "migrate[production].batch[2].ns[production-namespace-2].health"
    assert_rolled_back(run, failed)
    fail_event = next(e for e in run.events if e["event"] == "step_failed")
    assert "503" in fail_event["message"], fail_event
    assert len([k for k in run.finished()["rolled_back"] if k.endswith(".relabel")]) == 4
    assert_back_as_it_began(emu, before)


def test_api_errors_mid_run_fail_the_relabel_and_roll_back(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    # The API server answers 500 to the first PATCH of the staging namespace (the relabel).
    emu.set_faults({"api_errors": [{"path": r"^/api/v1/namespaces/staging-namespace(\?|$)", "method": "PATCH",
                                    "status": 500, "times": 1}]})

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, tmp=tmp_path)

    failed = "migrate[staging].batch[1].ns[staging-namespace].relabel"
    assert_rolled_back(run, failed)
    assert "500" in next(e for e in run.events if e["event"] == "step_failed")["message"] or \
        "Internal" in run.out
    undone = run.finished()["rolled_back"]
    # The failed relabel is undone too (its rollback is idempotent), then test-namespace, then the install.
    assert undone[:6] == [f"migrate[staging].batch[1].ns[staging-namespace].{s}" for s in
                          ("relabel", "announce", "baseline", "baseline-daemonsets", "baseline-statefulsets", "record")]
    assert_back_as_it_began(emu, before)


PROMETHEUS = shutil.which("prometheus")


@pytest.mark.skipif(PROMETHEUS is None, reason="no prometheus binary (Debian's `prometheus` package) on PATH")
def test_metric_gate_below_the_success_rate_rolls_back_after_the_first_wave(emulator_factory, tmp_path,
                                                                             prometheus_for):
    emu = emulator_factory()
    before = cluster_state(emu)
    # Proxies of the new revision answer 40% of requests with errors.
    emu.set_faults({"metrics": {"error_rate": {"1-20-0": 0.4}}})
    prometheus = prometheus_for(emu)

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, "--var", f"prometheus_url={prometheus}",
                       "--var", "metric_window=30s", tmp=tmp_path)

    assert_rolled_back(run, "migrate[test].metric-gate")
    message = next(e for e in run.events if e["event"] == "step_failed")["message"]
    assert "0.99" in message and "no data" not in message.lower(), message
    assert "staging-namespace" not in " ".join(run.keys("step_started"))
    assert_back_as_it_began(emu, before)


def test_a_failure_at_the_point_of_no_return_puts_the_tag_and_everything_back(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)
    # `istioctl uninstall --revision default` fails: the old control plane stays, the tag moved already.
    emu.set_faults({"command_failures": [{"tool": "istioctl", "args": ["uninstall", "-y", "--revision", "default"],
                                          "exit_code": 1, "stderr": "Error: emulated failure"}]})

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, tmp=tmp_path)

    assert_rolled_back(run, "promote.remove-old-istioctl")
    undone = run.finished()["rolled_back"]
    assert undone[:3] == ["promote.remove-old-istioctl", "promote.tag-default", "gateway.switch"]
    assert_back_as_it_began(emu, before)


def test_helm_variant_new_istiod_never_ready_uninstalls_the_release_and_rolls_the_base_chart_back(
        emulator_factory, tmp_path):
    emu = helm_cluster(emulator_factory)
    before = cluster_state(emu)
    emu.set_faults({"istiod_never_ready": ["1-20-0"]})

    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, "--var", "installer=helm",
                       "--var", "waves=[{name: all, namespaces: [test-namespace, staging-namespace, "
                                "production-namespace-1]}]", tmp=tmp_path)

    assert run.rc == 1, run.why()
    finished = run.finished()
    assert finished["failed"] == ["istiod-ready"] and finished["rollback_failed"] == []
    assert finished["rolled_back"] == ["install-helm", "helm-base-upgrade"]
    assert_back_as_it_began(emu, before)


def test_ctrl_c_in_the_staging_wave_rolls_back_and_exits_130(emulator_factory, tmp_path):
    emu = emulator_factory()
    before = cluster_state(emu)

    # The reference script's "Press Ctrl+C to abort if issues are detected", during staging's rollouts.
    run = run_playbook(emu, "canary-upgrade.yaml", *NEW, tmp=tmp_path,
                       interrupt_at="migrate[staging].batch[1].ns[staging-namespace].settled")

    assert run.rc == 130, run.why()
    finished = run.finished()
    assert finished["reason"] == "interrupted" and finished["rollback_failed"] == []
    assert [k for k in finished["rolled_back"] if k.endswith(".relabel")] == [
        "migrate[staging].batch[1].ns[staging-namespace].relabel", "migrate[test].batch[1].ns[test-namespace].relabel"]
    assert finished["rolled_back"][-1] == "install-istioctl"
    assert_back_as_it_began(emu, before)
