"""`playbook rehearse`: the round trip (a snapshot of a cluster rehearses like the cluster), the shipped canary
upgrade on a realistic production dump, the report files, and the live cluster left untouched."""
from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import yaml

from engine.emulator import Emulator
from engine.rehearse.rehearsal import RehearsalOptions, rehearse
from engine.snapshot import take_snapshot, write_snapshot

ROOT = Path(__file__).parents[2]
CANARY = ROOT / "playbooks" / "canary-upgrade.yaml"
SHORT = {"rev": "1-20-0", "soak_between_waves": "0s", "soak_before_promote": "0s"}
# A change with findings of both kinds: one from the copied objects (RH101), one from the run (RH108).
ORIGINAL = {
    "readiness_delay": 0.05, "nodes": 2,
    "istio": [{"revision": "default", "version": "1.19.3", "gateway": True}],
    "namespaces": [
        {"name": "shop", "labels": {"istio-injection": "enabled"},
         "deployments": [{"name": "web", "replicas": 2, "maxSurge": 1, "maxUnavailable": 0},
                         {"name": "cron-ui", "replicas": 1, "strategy": "Recreate"}]},
        {"name": "payments", "labels": {"istio-injection": "enabled"},
         "deployments": [{"name": "api", "replicas": 3, "maxSurge": 1, "maxUnavailable": 0}]}],
    "objects": [{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                 "metadata": {"name": "api", "namespace": "payments"},
                 "spec": {"minAvailable": 3, "selector": {"matchLabels": {"app": "api"}}}}],
}
# The budget allows no disruption of api's 3 pods: the canary playbook scales it up by one while it moves.
SCALE_UP = {"pdb_policy": "scale-up"}
WAVES = [{"name": "first", "namespaces": ["shop"]}, {"name": "second", "namespaces": ["payments"]}]


def test_rehearsing_a_snapshot_equals_rehearsing_the_original(tmp_path):
    with Emulator(ORIGINAL, state_dir=tmp_path / "original") as emu:
        snap = write_snapshot(take_snapshot(kubeconfig=str(emu.kubeconfig)), tmp_path / "snap.yaml")
    def options() -> RehearsalOptions:
        return RehearsalOptions(vars={**SHORT, **SCALE_UP, "waves": WAVES}, readiness_delay=0.05)
    of_original = rehearse(CANARY, ORIGINAL, tmp_path / "a", options())
    of_snapshot = rehearse(CANARY, snap, tmp_path / "b", options())
    assert of_snapshot.comparable() == of_original.comparable()
    codes = {f.code for f in of_original.findings}
    assert codes == {"RH101", "RH108"} and of_original.run["exit_code"] == 0
    assert of_snapshot.snapshot["context"] == "emulator"


def test_the_shipped_canary_upgrade_rehearses_on_a_realistic_dump(real_dump, tmp_path):
    waves = [{"name": "canary", "namespaces": ["shop-1"]},
             {"name": "rest", "namespaces": [f"shop-{i}" for i in range(2, 13)]}]
    report = rehearse(CANARY, real_dump, tmp_path / "out", RehearsalOptions(vars={**SHORT, "waves": waves}))
    assert report.run["status"] == "succeeded", report.run
    assert report.findings == [] and report.verdict == "go"
    # 48 shop deployments, istiod and the gateway (old and new), the StatefulSet and the DaemonSet: no downtime.
    assert not any(report.downtime.values()) and len(report.downtime) == 54
    assert "StatefulSet data/redis" in report.downtime
    est = report.estimate
    rolled = {r["workload"]: r for r in est["rollouts"]}
    # checkout's pods took about 20 s to be Ready in the dump; it rolls one new pod at a time (maxSurge 1).
    checkout = rolled["Deployment shop-2/checkout"]
    assert checkout["readiness_from"] == "its pods in the snapshot" and 17 <= checkout["ready_seconds"] <= 23
    assert checkout["estimate_seconds"] == round(checkout["batches"] * checkout["ready_seconds"], 1)
    assert est["estimate_seconds"] > est["rehearsal_seconds"] + 60
    assert report.copy["left_out"]["Pod (made again by its controller)"] > 100


def test_the_command_writes_the_reports_and_never_contacts_the_live_cluster(tmp_path):
    requests: list[str] = []

    class Live(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            requests.append(self.path)
            self.send_response(500)
            self.end_headers()
        do_POST = do_PATCH = do_PUT = do_DELETE = do_GET  # noqa: N815

        def log_message(self, *args) -> None:
            pass
    live = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Live)
    threading.Thread(target=live.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "live-kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "prod",
        "clusters": [{"name": "prod", "cluster": {"server": f"http://127.0.0.1:{live.server_port}"}}],
        "contexts": [{"name": "prod", "context": {"cluster": "prod", "user": "admin"}}],
        "users": [{"name": "admin", "user": {"token": "t"}}]}))
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(ORIGINAL))
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    out = tmp_path / "report"
    args = [sys.executable, "-m", "engine.cli", "rehearse", str(CANARY), "--snapshot", str(cluster), "--out", str(out),
            "--var", "rev=1-20-0", "--var", "soak_between_waves=0s", "--var", "soak_before_promote=0s",
            "--var", "pdb_policy=scale-up", "--var", "waves=" + json.dumps(WAVES)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    live.shutdown()
    assert requests == []
    assert proc.returncode == 1, proc.stderr  # no-go: RH101 and RH108 are errors
    assert "live cluster was not contacted" in proc.stdout and "verdict: NO-GO" in proc.stdout
    assert "ERROR RH101 pdb-blocks-restart" in proc.stdout and "ERROR RH108 workload-downtime" in proc.stdout
    data = json.loads((out / "report.json").read_text())
    assert data["live_cluster_contacted"] is False and data["verdict"] == "no-go"
    assert (out / "runs" / data["run"]["run_id"] / "events.jsonl").is_file()
    assert data["run"]["report"] == str(out.resolve() / "runs" / data["run"]["run_id"] / "report.html")
    assert "Downtime" in Path(data["run"]["report"]).read_text()  # `playbook report`'s page of the run
    page = (out / "report.html").read_text()
    assert "<script" not in page and "<link" not in page
    assert "https://" not in page and page.count("http://") == page.count('xmlns="http://www.w3.org/2000/svg"')
    assert 'aria-label="plan graph"' in page and 'aria-label="timeline"' in page
    assert "# Rehearsal: istio-canary-upgrade" in (out / "report.md").read_text()
    refused = subprocess.run(args + ["--context", "prod"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "never talks to a live cluster" in refused.stderr


def test_the_command_says_which_urls_a_rehearsal_calls_for_real(tmp_path):
    fixture = Path(__file__).parent / "fixtures" / "RH107-step-failed.yaml"  # fails before any URL is called
    proc = subprocess.run([sys.executable, "-m", "engine.cli", "rehearse", str(CANARY), "--snapshot", str(fixture),
                           "--out", str(tmp_path / "out"), "--var", "rev=1-20-0",
                           "--var", "health_url=http://shop.example.com/{namespace}/health",
                           "--var", 'waves=[{"name": "all", "namespaces": ["apps"]}]'],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert "rehearse: note: steps using health_url call those URLs for real" in proc.stderr
    assert "ERROR RH107 step-failed: step precheck" in proc.stdout
