"""Section 5 of the benchmark: the canary upgrade end to end on the emulator (20 namespaces, 100 deployments)
against the readiness waits no engine can avoid.

The unavoidable part: the emulator makes every new pod wait `readiness_delay` seconds before it is Ready, and
the upgrade must wait for the new istiod, for the new ingress gateway, and then for each namespace's restarted
deployments, one namespace after another (zero downtime: maxSurge 1, maxUnavailable 0, so a deployment of r
replicas needs r rounds; a namespace's deployments roll together). So

    unavoidable = delay x (1 istiod + 1 gateway + sum over namespaces of the most replicas of any deployment)

Everything above that is the engine, kubectl/istioctl start-up, and the emulator's API and controllers.
"""
from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

NAMESPACES = 20
DEPLOYMENTS = 5  # per namespace
REPLICAS = 1
FAST = ["--var", "soak_between_waves=0s", "--var", "soak_before_promote=0s"]


def cluster_spec() -> dict:
    return {"nodes": 6, "istio": [{"revision": "default", "version": "1.19.3", "gateway": True}],
            "namespaces": [{"name": "team-{i}", "count": NAMESPACES, "labels": {"istio-injection": "enabled"},
                            "deployments": {"count": DEPLOYMENTS, "name": "svc-{i}", "replicas": REPLICAS,
                                            "maxSurge": 1, "maxUnavailable": 0}}]}


def waves_file(path: Path) -> Path:
    teams = [f"team-{i}" for i in range(1, NAMESPACES + 1)]
    path.write_text("waves:\n"
                    f"  - {{name: test, namespaces: [{', '.join(teams[:2])}]}}\n"
                    f"  - {{name: staging, namespaces: [{', '.join(teams[2:6])}]}}\n"
                    f"  - {{name: production, namespaces: [{', '.join(teams[6:])}], confirm: true}}\n")
    return path


def measure_end_to_end(bench, rows, *, Row, secs, timed, CANARY) -> None:  # noqa: N803 — helpers of bench/run.py

    if shutil.which("kubectl") is None:
        rows.append(Row("canary upgrade", "not measured: no kubectl on PATH (the playbook drives the real one)"))
        return
    from engine.emulator import Emulator
    from engine.emulator.runtime import DEFAULT_READINESS_DELAY

    reps = 1 if bench.quick else 3
    work = Path(tempfile.mkdtemp(prefix="e2e-", dir=bench.work))
    waves = waves_file(work / "waves.yaml")
    walls, inner = [], []
    delay = DEFAULT_READINESS_DELAY  # the cluster spec sets none: the emulator's built-in delay
    for rep in range(reps):
        bench.say(f"canary upgrade on the emulator (run {rep + 1}/{reps})")
        emu = Emulator(cluster=cluster_spec(), state_dir=work / f"emulator-{rep}")
        emu.start()
        try:
            env = {**bench.env, **emu.env(), "PLAYBOOK_RUNS_DIR": str(work / "runs")}
            sample = timed(bench.playbook + ["run", str(CANARY), "--var", "rev=1-20-0", "--vars-file", str(waves),
                                             *FAST, "--yes", "--quiet", "--output", "json"],
                           env=env, cwd=work, keep_output=True, expect_rc=None)
            times = {}
            for line in sample.out.splitlines():
                if line.startswith("{"):
                    rec = json.loads(line)
                    if rec.get("event") in ("run_started", "run_finished"):
                        times[rec["event"]] = rec["time"]
                        if rec["event"] == "run_finished" and rec.get("exit_code") != 0:
                            raise RuntimeError(f"the upgrade ended with exit {rec.get('exit_code')}: "
                                               f"failed {rec.get('failed')}")
            if sample.rc != 0 or "run_finished" not in times:
                raise RuntimeError(f"the upgrade exited {sample.rc}")
            walls.append(sample.wall)
            inner.append(times["run_finished"] - times["run_started"])
        finally:
            emu.stop()
        time.sleep(0.5)
    unavoidable = delay * (2 + NAMESPACES * REPLICAS)
    got = statistics.median(inner)
    ratio = got / unavoidable
    rows.append(Row(f"readiness waits on the critical path ({NAMESPACES} ns x {REPLICAS} round + istiod + gateway)",
                    f"{secs(unavoidable)} ({delay:g} s each)"))
    rows.append(Row(f"canary upgrade, {NAMESPACES} namespaces / {NAMESPACES * DEPLOYMENTS} deployments "
                    f"({len(inner)} run{'s' if len(inner) > 1 else ''})",
                    f"{secs(got)} (wall {secs(statistics.median(walls))})", against="unavoidable waits",
                    ratio=f"{ratio:.2f}x", target="<= 1.5x", holds=ratio <= 1.5))
