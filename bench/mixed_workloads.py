"""Section 6 of the benchmark: the canary upgrade of 200 namespaces holding 1,000 workloads of mixed kinds,
ten namespaces at a time (`max_parallel_namespaces: 10`), against the readiness waits on its critical path.

Each namespace holds five workloads: three Deployments (1 replica, maxSurge 1, maxUnavailable 0), a
StatefulSet of 2 (OnDelete in every fourth namespace: moved by two evictions in turn; else RollingUpdate: two
pods in turn) and one more by turn: a DaemonSet on one node (by nodeSelector; maxSurge 100%), an Argo Rollout of
2 (restartAt: one pod at a time), a Job, a CronJob or a bare pod (never killed: reported, leftover_pods=proceed).

The unavoidable part: every new pod waits `readiness_delay` before it is Ready; within a namespace the
workloads move together and the slowest needs two pods in turn, so a group of ten namespaces needs two rounds;
the groups of a wave follow each other; and istiod and the gateway need one round each:

    unavoidable = delay x (2 + 2 x number of groups)        (200 namespaces / 10 = 20 groups)
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path

NAMESPACES = 200
PARALLEL = 10
DELAY = 2.0  # seconds each new pod takes to be Ready (real rollouts take longer; the overhead does not)
FAST = ["--var", "soak_between_waves=0s", "--var", "soak_before_promote=0s"]
_EXTRA = ("daemonsets", "rollouts", "jobs", "cronjobs", "pods")


def namespace_entry(i: int) -> dict:
    """Namespace team-i and its five workloads."""
    extra = _EXTRA[i % len(_EXTRA)]
    entry: dict = {"name": f"team-{i}", "labels": {"istio-injection": "enabled"},
                   "deployments": {"count": 3, "name": "svc-{i}", "replicas": 1, "maxSurge": 1, "maxUnavailable": 0},
                   "statefulsets": [{"name": "store", "replicas": 2,
                                     "strategy": "OnDelete" if i % 4 == 0 else "RollingUpdate"}]}
    entry[extra] = [{"daemonsets": {"name": "agent", "maxSurge": "100%", "maxUnavailable": 0,
                                    "nodeSelector": {"kubernetes.io/hostname": f"emulator-worker{i % 5 + 2}"}},
                     "rollouts": {"name": "shop", "replicas": 2},
                     "jobs": {"name": "batch", "run_seconds": 3600},
                     "cronjobs": {"name": "nightly", "start_now": True, "run_seconds": 3600},
                     "pods": {"name": "debug"}}[extra]]
    return entry


def cluster_spec() -> dict:
    # Enough nodes that the second control plane fits beside 1,400 proxies (100m each); each DaemonSet runs on
    # the one node its nodeSelector names.
    return {"nodes": 24, "readiness_delay": DELAY,
            "istio": [{"revision": "default", "version": "1.19.3", "gateway": True}],
            "namespaces": [namespace_entry(i) for i in range(1, NAMESPACES + 1)]}


def waves_file(path: Path) -> Path:
    teams = [f"team-{i}" for i in range(1, NAMESPACES + 1)]
    path.write_text("waves:\n"
                    f"  - {{name: test, namespaces: [{', '.join(teams[:10])}]}}\n"
                    f"  - {{name: staging, namespaces: [{', '.join(teams[10:40])}]}}\n"
                    f"  - {{name: production, namespaces: [{', '.join(teams[40:])}]}}\n")
    return path


def groups() -> int:
    return sum(math.ceil(n / PARALLEL) for n in (10, 30, NAMESPACES - 40))


def measure_mixed(bench, rows, *, Row, secs, timed, CANARY) -> None:  # noqa: N803 — helpers of bench/run.py
    if shutil.which("kubectl") is None:
        rows.append(Row("mixed upgrade", "not measured: no kubectl on PATH (the playbook drives the real one)"))
        return
    from engine.emulator import Emulator

    work = Path(tempfile.mkdtemp(prefix="mixed-", dir=bench.work))
    waves = waves_file(work / "waves.yaml")
    bench.say(f"mixed upgrade on the emulator: {NAMESPACES} namespaces, {NAMESPACES * 5} workloads")
    emu = Emulator(cluster=cluster_spec(), state_dir=work / "emulator")
    emu.start()
    try:
        env = {**bench.env, **emu.env(), "PLAYBOOK_RUNS_DIR": str(work / "runs")}
        sample = timed(bench.playbook + ["run", str(CANARY), "--var", "rev=1-20-0", "--vars-file", str(waves),
                                         "--var", f"max_parallel_namespaces={PARALLEL}",
                                         "--var", "leftover_pods=proceed", "--var", "rollout_timeout=10m",
                                         "--max-parallel", str(2 * PARALLEL), *FAST,
                                         "--yes", "--quiet", "--output", "json"],
                       env=env, cwd=work, keep_output=True, expect_rc=None)
        times, finished = {}, {}
        for line in sample.out.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                if rec.get("event") in ("run_started", "run_finished"):
                    times[rec["event"]] = rec["time"]
                    finished = rec if rec["event"] == "run_finished" else finished
        if sample.rc != 0 or finished.get("exit_code") != 0:
            raise RuntimeError(f"the mixed upgrade exited {sample.rc}: failed {finished.get('failed')}")
        outages = {k: v for k, v in emu.downtime_report().items() if v}
    finally:
        emu.stop()
    unavoidable = DELAY * (2 + 2 * groups())
    got = times["run_finished"] - times["run_started"]
    ratio = got / unavoidable
    rows.append(Row(f"readiness waits on the critical path ({groups()} groups x 2 rounds + istiod + gateway)",
                    f"{secs(unavoidable)} ({DELAY:g} s each)"))
    rows.append(Row(f"mixed upgrade, {NAMESPACES} namespaces / {NAMESPACES * 5} workloads, "
                    f"max_parallel_namespaces {PARALLEL}",
                    f"{secs(got)} (wall {secs(sample.wall)}; {len(outages)} workloads with downtime)",
                    against="unavoidable waits", ratio=f"{ratio:.2f}x", target="<= 1.3x", holds=ratio <= 1.3))
