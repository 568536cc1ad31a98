"""Section 6 of the benchmark: the canary upgrade of namespaces holding five workloads of mixed kinds each,
ten namespaces at a time (`max_parallel_namespaces: 10`), against the readiness waits on its critical path.

    python bench/mixed_workloads.py                   # the default size: 40 namespaces / 200 workloads
    python bench/mixed_workloads.py --full            # 200 namespaces / 1,000 workloads (issue 12's size)
    python bench/mixed_workloads.py --namespaces 20 --profile out.html   # the engine under pyinstrument

Each namespace holds five workloads: three Deployments (1 replica, maxSurge 1, maxUnavailable 0), a
StatefulSet of 2 (OnDelete in every fourth namespace: moved by two evictions in turn; else RollingUpdate: two
pods in turn) and one more by turn: a DaemonSet on one node (by nodeSelector; maxSurge 100%), an Argo Rollout of
2 (restartAt: one pod at a time), a Job, a CronJob or a bare pod (never killed: reported, leftover_pods=proceed).

The critical path of readiness waits, from the emulator's configured timing and the wave structure:
every new pod is Ready `readiness_delay` after it is created (the emulator's one rollout timing; scheduling
and termination take no time). Within a namespace the workloads move together, and the slowest needs two pods
in turn (the StatefulSet of 2, and the Argo Rollout of 2, move one pod at a time: 2 rounds; Deployments of 1
and the DaemonSet need 1). The namespaces of a group move at once, so a group takes 2 rounds; the groups of a
wave follow each other (a group starts when the slowest namespace of the one before is done) and the waves
follow each other; before them istiod-REV and after them the new gateway each need one round:

    critical path = delay x (1 istiod + 2 rounds x sum over waves of ceil(namespaces / 10) + 1 gateway)

Everything above that is the engine, kubectl/istioctl start-up, and the emulator's API and controllers; the
section prints the CPU time of each (the engine process itself, its kubectl/istioctl children, the emulator).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

DEFAULT_NAMESPACES = 40  # a few minutes on a busy machine; --full for issue 12's 200
FULL_NAMESPACES = 200
PARALLEL = 10
DELAY = 2.0  # seconds each new pod takes to be Ready (real rollouts take longer; the overhead does not)
ROUNDS_PER_GROUP = 2  # the StatefulSet and the Argo Rollout of 2 move one pod after the other
FAST = ["--var", "soak_between_waves=0s", "--var", "soak_before_promote=0s"]
_EXTRA = ("daemonsets", "rollouts", "jobs", "cronjobs", "pods")

# Run the engine in a process that reports its own CPU time apart from its children's (kubectl, istioctl).
_LAUNCHER = """
import atexit, json, os, resource, sys
def _report():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(os.environ["MIXED_BENCH_RUSAGE"], "w") as f:
        json.dump({"engine": s.ru_utime + s.ru_stime, "children": c.ru_utime + c.ru_stime}, f)
atexit.register(_report)
sys.argv = ["playbook"] + sys.argv[1:]
from engine.cli import main
main()
"""


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


def cluster_spec(namespaces: int) -> dict:
    # Enough nodes that the second control plane fits beside 1,400 proxies (100m each); each DaemonSet runs on
    # the one node its nodeSelector names.
    return {"nodes": 24, "readiness_delay": DELAY,
            "istio": [{"revision": "default", "version": "1.19.3", "gateway": True}],
            "namespaces": [namespace_entry(i) for i in range(1, namespaces + 1)]}


def wave_sizes(namespaces: int) -> list[int]:
    """test 5%, staging 15%, production the rest: 10 / 30 / 160 of 200."""
    test = max(1, namespaces // 20)
    staging = max(1, 3 * namespaces // 20)
    return [test, staging, namespaces - test - staging]


def waves_file(path: Path, namespaces: int) -> Path:
    teams = [f"team-{i}" for i in range(1, namespaces + 1)]
    lines, start = ["waves:"], 0
    for name, size in zip(("test", "staging", "production"), wave_sizes(namespaces)):
        lines.append(f"  - {{name: {name}, namespaces: [{', '.join(teams[start:start + size])}]}}")
        start += size
    path.write_text("\n".join(lines) + "\n")
    return path


def groups(namespaces: int) -> int:
    """Groups of at most PARALLEL namespaces, summed over the waves (a group never spans two waves)."""
    return sum(math.ceil(n / PARALLEL) for n in wave_sizes(namespaces))


def critical_path(namespaces: int) -> float:
    """Seconds of readiness waits no engine can avoid (see the module's docstring)."""
    return DELAY * (1 + ROUNDS_PER_GROUP * groups(namespaces) + 1)


def run_upgrade(namespaces: int, work: Path, env: dict, python: str, canary: Path, *, timed,
                profile: Path | None = None, say=lambda text: None) -> dict:
    """Load the mixed cluster into an emulator in this process, run the upgrade against it; its figures."""
    from engine.emulator import Emulator

    waves = waves_file(work / "waves.yaml", namespaces)
    say(f"mixed upgrade on the emulator: {namespaces} namespaces, {namespaces * 5} workloads")
    loaded = time.perf_counter()
    emu = Emulator(cluster=cluster_spec(namespaces), state_dir=work / "emulator")
    emu.start()
    load_wall = time.perf_counter() - loaded
    rusage_file = work / "rusage.json"
    if profile is not None:
        renderer = "html" if profile.suffix == ".html" else "text"
        engine = [python, "-m", "pyinstrument", "--renderer", renderer, "-o", str(profile), "-m", "engine.cli"]
    else:
        engine = [python, "-c", _LAUNCHER]
    try:
        run_env = {**env, **emu.env(), "PLAYBOOK_RUNS_DIR": str(work / "runs"),
                   "MIXED_BENCH_RUSAGE": str(rusage_file)}
        before = resource.getrusage(resource.RUSAGE_SELF)  # this process now runs only the emulator's thread
        sample = timed(engine + ["run", str(canary), "--var", "rev=1-20-0", "--vars-file", str(waves),
                                 "--var", f"max_parallel_namespaces={PARALLEL}",
                                 "--var", "leftover_pods=proceed", "--var", "rollout_timeout=10m",
                                 "--max-parallel", str(2 * PARALLEL), *FAST,
                                 "--yes", "--quiet", "--output", "json"],
                       env=run_env, cwd=work, keep_output=True, expect_rc=None)
        after = resource.getrusage(resource.RUSAGE_SELF)
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
    split = json.loads(rusage_file.read_text()) if rusage_file.exists() else {}
    return {"namespaces": namespaces, "run": times["run_finished"] - times["run_started"], "wall": sample.wall,
            "load_wall": load_wall, "cpu_total": sample.cpu,
            "cpu_engine": split.get("engine"), "cpu_children": split.get("children"),
            "cpu_emulator": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
            "outages": len(outages), "critical": critical_path(namespaces), "groups": groups(namespaces)}


def _cpu_text(f: dict, secs) -> str:
    parts = [f"playbook process tree {secs(f['cpu_total'])}"]
    if f.get("cpu_engine") is not None:
        parts.append(f"engine {secs(f['cpu_engine'])}, kubectl/istioctl {secs(f['cpu_children'])}")
    parts.append(f"emulator {secs(f['cpu_emulator'])}")
    return "; ".join(parts)


def rows_for(f: dict, *, Row, secs) -> list:  # noqa: N803 — bench/run.py's Row
    n = f["namespaces"]
    ratio = f["run"] / f["critical"]
    return [
        Row(f"readiness waits on the critical path: {DELAY:g} s x (istiod + {f['groups']} groups of "
            f"<= {PARALLEL} ns x {ROUNDS_PER_GROUP} rounds + gateway)", secs(f["critical"])),
        Row(f"mixed upgrade, {n} namespaces / {n * 5} workloads, max_parallel_namespaces {PARALLEL}",
            f"{secs(f['run'])} (wall {secs(f['wall'])}; {f['outages']} workloads with downtime)",
            against="critical path", ratio=f"{ratio:.2f}x", target="<= 1.3x", holds=ratio <= 1.3),
        Row("  CPU time of the mixed upgrade", _cpu_text(f, secs)),
    ]


def measure_mixed(bench, rows, *, Row, secs, timed, CANARY) -> None:  # noqa: N803 — helpers of bench/run.py
    if shutil.which("kubectl") is None:
        rows.append(Row("mixed upgrade", "not measured: no kubectl on PATH (the playbook drives the real one)"))
        return
    namespaces = getattr(bench.args, "mixed_namespaces", None) or DEFAULT_NAMESPACES
    work = Path(tempfile.mkdtemp(prefix="mixed-", dir=bench.work))
    root = str(CANARY.parent.parent)  # the engine of this checkout, whatever the venv installed
    env = {**bench.env, "PYTHONPATH": os.pathsep.join(p for p in (root, bench.env.get("PYTHONPATH")) if p)}
    figures = run_upgrade(namespaces, work, env, bench.python, CANARY, timed=timed, say=bench.say)
    rows.extend(rows_for(figures, Row=Row, secs=secs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--namespaces", type=int, default=DEFAULT_NAMESPACES, help="namespaces of five workloads")
    size.add_argument("--full", action="store_true", help=f"{FULL_NAMESPACES} namespaces / "
                                                          f"{FULL_NAMESPACES * 5} workloads")
    parser.add_argument("--profile", type=Path, help="run the engine under pyinstrument; write its report here "
                                                     "(HTML for a .html name, else text)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (prints where)")
    args = parser.parse_args(argv)
    here = Path(__file__).resolve().parent
    # The emulator runs in this process: from this checkout, as the engine does (PYTHONPATH below), not from
    # wherever the virtualenv's editable install points.
    sys.path[:0] = [str(here.parent), str(here)]
    import run as bench_run  # bench/run.py: its timing and table helpers

    namespaces = FULL_NAMESPACES if args.full else args.namespaces
    work = Path(tempfile.mkdtemp(prefix="mixed-bench-"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"NO_COLOR": "1", "PYTHONPATH": str(bench_run.ROOT)})
    load = os.getloadavg()[0]
    try:
        figures = run_upgrade(namespaces, work, env, sys.executable, bench_run.CANARY, timed=bench_run.timed,
                              profile=args.profile, say=lambda text: print(f"  … {text}", file=sys.stderr))
    finally:
        if args.keep:
            print(f"work dir: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    table = bench_run.Table()
    table.section(f"6. mixed kinds, {namespaces} namespaces (load {load:.1f} at the start, "
                  f"{os.getloadavg()[0]:.1f} at the end; cluster loaded in {figures['load_wall']:.1f} s)").extend(
        rows_for(figures, Row=bench_run.Row, secs=bench_run.secs))
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
