"""Fleet benchmark: N emulated clusters (default 50) upgraded in waves of `parallelism` (default 10) after a
canary wave of one, timed against `waves x single-cluster time` (target: within 1.2x), with the engine's
memory per cluster.

    python bench/fleet_bench.py                       # 50 clusters, parallelism 10, the canary upgrade
    python bench/fleet_bench.py --playbook hold       # a playbook that mostly waits: the fleet engine's own cost
    python bench/fleet_bench.py --clusters 12 --parallelism 4

The single-cluster time is one `playbook run` of the same playbook on one emulated cluster of the same fleet,
alone. Memory: the fleet process's own RSS, and the RSS of each cluster's `playbook run` process (sampled
from /proc every 0.2 s), summed over the processes alive at once, per running cluster.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.emulator.fleet import EmulatedFleet, Member  # noqa: E402

CANARY = REPO / "playbooks" / "canary-upgrade.yaml"
HOLD = """version: 1
name: hold
inputs:
  rev: {type: string, required: true}
steps:
  - id: label
    uses: kubectl
    with: {args: [label, namespace, test-namespace, "fleet/rev={{ rev }}", --overwrite]}
  - id: hold
    needs: [label]
    uses: pause
    with: {duration: 5s}
  - id: check
    needs: [hold]
    uses: kubectl
    with: {args: [get, namespace, test-namespace, -o, name]}
"""
FAST = {"soak_between_waves": "0s", "soak_before_promote": "0s"}
TARGET = 1.2


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return out


class MemorySampler:
    """Samples the fleet process and its direct children (each a cluster's engine) from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fleet_peak = 0
        self.per_cluster: list[float] = []
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "MemorySampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            own = _rss_kb(self.pid)
            kids = [_rss_kb(k) for k in _children(self.pid)]
            kids = [k for k in kids if k > 0]
            self.fleet_peak = max(self.fleet_peak, own)
            if kids:
                self.per_cluster.append(sum(kids) / len(kids))
                self.peak_total = max(self.peak_total, own + sum(kids))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=50)
    ap.add_argument("--parallelism", type=int, default=10)
    ap.add_argument("--playbook", choices=["canary", "hold"], default="canary")
    ap.add_argument("--readiness-delay", type=float, default=0.05)
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    playbook = CANARY
    inputs = dict(FAST)
    if args.playbook == "hold":
        playbook = work / "hold.yaml"
        playbook.write_text(HOLD)
        inputs = {}
    names = [f"c{i:03d}" for i in range(1, args.clusters + 1)]
    fleet_yaml = work / "fleet.yaml"
    fleet_yaml.write_text(
        "version: 1\nname: bench\n"
        f"parallelism: {args.parallelism}\n"
        f"inputs: {json.dumps(inputs)}\n"
        "clusters:\n" + "".join(f"  - {{name: {n}}}\n" for n in names) +
        "waves:\n  - {name: canary, canary: true, select: {}}\n"
        f"  - {{name: rest, select: {{}}, size: {args.parallelism}}}\n")
    print(f"starting {args.clusters + 1} emulated clusters ...", file=sys.stderr)
    t0 = time.perf_counter()
    emulated = EmulatedFleet([Member(n, readiness_delay=args.readiness_delay) for n in ["alone", *names]],
                             state_dir=work / "emulated").start()
    start_s = time.perf_counter() - t0
    env = {**os.environ, **emulated.env(), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    try:
        print("one cluster alone ...", file=sys.stderr)
        var_args = [a for k, v in {"rev": "1-20-0", **inputs}.items() for a in ("--var", f"{k}={v}")]
        t0 = time.perf_counter()
        single = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(playbook), "--context", "alone",
                                 *var_args, "--yes", "-q", "--runs-dir", str(work / "single")], env=env, cwd=work,
                                capture_output=True, text=True)
        single_s = time.perf_counter() - t0
        if single.returncode != 0:
            print(single.stdout[-3000:], single.stderr[-2000:], file=sys.stderr)
            return 1
        print(f"fleet of {args.clusters} ...", file=sys.stderr)
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "fleet", "run", str(fleet_yaml), str(playbook),
                                 "--var", "rev=1-20-0", "--yes", "--output", "json", "--fleets-dir",
                                 str(work / "fleets")], env=env, cwd=work, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        sampler = MemorySampler(proc.pid).start()
        waves, finished = 0, None
        spans: dict[str, list[float]] = {}  # cluster -> [started, finished]
        wave_of: dict[str, str] = {}
        for line in proc.stdout:
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if "step" in event:
                continue
            if event["event"] == "wave_started":
                waves += 1
            elif event["event"] == "cluster_started":
                spans[event["cluster"]] = [event["time"]]
                wave_of[event["cluster"]] = event["wave"]
            elif event["event"] == "cluster_finished" and event["cluster"] in spans:
                spans[event["cluster"]].append(event["time"])
            elif event["event"] == "fleet_finished":
                finished = event
        rc = proc.wait()
        fleet_s = time.perf_counter() - t0
        sampler.stop()
        err = proc.stderr.read()
        downtime = emulated.downtime()
    finally:
        emulated.stop()
    if rc != 0:
        print(f"fleet run failed (exit {rc}): {finished}\n{err[-2000:]}", file=sys.stderr)
        return 1
    ideal = waves * single_s
    ratio = fleet_s / ideal
    # Where the time went: the clusters' own runs (slower when they share the machine) against what the
    # fleet adds around them (start-up, pre-flight, between waves).
    durations = [end - start for start, end in spans.values()]
    slowest: dict[str, float] = {}
    for name, (start, end) in spans.items():
        slowest[wave_of[name]] = max(slowest.get(wave_of[name], 0.0), end - start)
    inside = sum(durations) / len(durations) if durations else 0.0
    orchestration = fleet_s - sum(slowest.values())
    per_cluster = sum(sampler.per_cluster) / len(sampler.per_cluster) if sampler.per_cluster else 0
    rows = [
        ("clusters / parallelism / waves", f"{args.clusters} / {args.parallelism} / {waves}", ""),
        ("playbook", args.playbook, ""),
        ("emulated fleet start-up", f"{start_s:.1f} s", ""),
        ("single cluster alone", f"{single_s:.1f} s", ""),
        ("fleet", f"{fleet_s:.1f} s", ""),
        ("waves x single", f"{ideal:.1f} s", ""),
        ("fleet / (waves x single)", f"{ratio:.2f}x", f"target {TARGET}x: {'holds' if ratio <= TARGET else 'does not hold'}"),
        ("mean cluster run inside the fleet", f"{inside:.1f} s", f"{inside / single_s:.1f}x the run alone"),
        ("fleet time outside the slowest runs", f"{orchestration:.1f} s",
         "pre-flight, process start-up, waits between waves"),
        ("fleet process RSS (peak)", f"{sampler.fleet_peak / 1024:.0f} MiB", ""),
        ("engine RSS per running cluster", f"{per_cluster / 1024:.0f} MiB", "each cluster's `playbook run` process"),
        ("engine RSS, all at once (peak)", f"{sampler.peak_total / 1024:.0f} MiB", ""),
        ("downtime", "none" if not downtime else f"{len(downtime)} clusters", ""),
        ("cores", str(os.cpu_count()), f"load average {os.getloadavg()[0]:.1f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>16}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
