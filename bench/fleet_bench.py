"""Fleet benchmark: a fleet run on emulated clusters against `waves x single-cluster time` (target: within 1.2x),
with the CPU it took, the CPU-bound floor of this machine, and memory per cluster.

    python bench/fleet_bench.py                  # the canary upgrade, 20 clusters, parallelism 10 (~3 min quiet)
    python bench/fleet_bench.py --full           # the same on 50 clusters (canary wave + 5 waves of 10)
    python bench/fleet_bench.py --playbook playbooks/canary-upgrade.yaml --clusters 50
    python bench/fleet_bench.py --playbook hold --full  # a playbook that mostly waits: the fleet engine's own cost
    python bench/fleet_bench.py --readiness-delay 0.05  # rollouts at once: the run becomes CPU-bound

What it runs: one emulated cluster per fleet cluster plus one more ("alone"), all served from this process.
First one `playbook run` of the playbook on "alone" (the single-cluster baseline), then `playbook fleet run`
over the others: a canary wave of one, then waves of `--parallelism`.

What it reports, for the baseline and the fleet measured the same way:
  wall       elapsed time of the command;
  CPU        user+sys of the command's whole process tree (the engine, every kubectl and stand-in istioctl
             it ran), from the kernel's accounting of reaped children, plus the emulator's CPU (its threads
             in this process) for the clusters it served;
  floor      total CPU / cores: the shortest wall time this machine allows for that much work, however
             well it is spread. When the floor is above `waves x single`, the 1.2x target cannot hold here:
             the cores are saturated, and what can still be cut is CPU per cluster; when the floor is well
             below and the ratio still misses, the time goes to waiting (orchestration, contention).
  busy       the share of the machine's cores busy while it ran, every process's (from /proc/stat): near
             100% with a small share of the bench's own means other work held the cores;
  memory     each cluster's engine (`playbook run` process) RSS while it runs, the fleet process's RSS, and
             the emulator's RSS per emulated cluster (this process's growth over the clusters it serves).

The emulator's `--readiness-delay` (seconds before a new pod is Ready; default 2) makes rollouts take wall time
as real ones do, so each cluster's run waits on its cluster rather than only burning CPU; 0.05 is the test
suites' setting. Other machine load skews everything: the load average is printed before and after.
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
from dataclasses import dataclass
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
# The canary upgrade's own soaks would only add the same sleep to every run: measured without them.
FAST = {"soak_between_waves": "0s", "soak_before_promote": "0s"}
TARGET = 1.2
TICKS = os.sysconf("SC_CLK_TCK")
SAMPLE_EVERY = 0.5


def _rss_kb(pid: int | str) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _stat(path: str) -> list[str] | None:
    """Fields of a /proc stat file after the command name (field 3 onwards), None if it is gone."""
    try:
        with open(path) as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu_of(path: str) -> float:
    """utime+stime (seconds) of a process or thread from its stat file."""
    fields = _stat(path)
    return (int(fields[11]) + int(fields[12])) / TICKS if fields else 0.0


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, every process's, from /proc/stat."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    total = sum(ticks[:8])  # guest time is already counted in user
    return (total - idle) / TICKS, total / TICKS


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(f"/proc/{entry}/stat")
            if fields and int(fields[1]) == pid:
                out.append(int(entry))
    return out


class Sampler:
    """Samples, every SAMPLE_EVERY s, the RSS of the fleet process and of its children (each a cluster's engine,
    or a gate) and the fleet process's own CPU (its last value is what it used: it cannot be read once it ended)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.fleet_peak = 0
        self.fleet_cpu = 0.0
        self.per_cluster: list[float] = []
        self.cluster_peak = 0
        self.peak_total = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            own = _rss_kb(self.pid)
            self.fleet_cpu = max(self.fleet_cpu, _cpu_of(f"/proc/{self.pid}/stat"))
            kids = [k for k in (_rss_kb(k) for k in _children(self.pid)) if k > 0]
            self.fleet_peak = max(self.fleet_peak, own)
            if kids:
                self.per_cluster.append(sum(kids) / len(kids))
                self.cluster_peak = max(self.cluster_peak, *kids)
                self.peak_total = max(self.peak_total, own + sum(kids))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class Measured:
    """One command's wall time, its process tree's CPU, and the emulator's CPU while it ran."""

    wall: float
    tree_cpu: float
    emulator_cpu: float
    rc: int
    machine_busy: float  # share of every core's time busy while it ran, whatever process used it

    @property
    def cpu(self) -> float:
        return self.tree_cpu + self.emulator_cpu


class Meter:
    """Wall and CPU of one child command: the kernel adds a reaped child's CPU, and that of every process it
    reaped (kubectl, istioctl...), to this process's children times; the emulator's threads are read apart."""

    def __init__(self, emulated: EmulatedFleet) -> None:
        self.tids = [emu._thread.native_id for emu in emulated.emulators.values() if emu._thread is not None]

    def emulator_cpu(self) -> float:
        return sum(_cpu_of(f"/proc/self/task/{tid}/stat") for tid in self.tids)

    def __enter__(self) -> "Meter":
        self._t0, self._c0, self._e0 = time.perf_counter(), os.times(), self.emulator_cpu()
        self._m0 = _machine_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        c1 = os.times()
        self.wall = time.perf_counter() - self._t0
        self.tree_cpu = (c1.children_user - self._c0.children_user) + (c1.children_system - self._c0.children_system)
        self.emu_cpu = self.emulator_cpu() - self._e0
        busy, total = (a - b for a, b in zip(_machine_cpu(), self._m0))
        self.machine_busy = busy / total if total else 0.0

    def result(self, rc: int) -> Measured:
        return Measured(self.wall, self.tree_cpu, self.emu_cpu, rc, self.machine_busy)


def _playbook(spec: str, work: Path) -> tuple[Path, dict[str, str], str]:
    """(path, inputs, label) of --playbook: `canary`, `hold` or a path."""
    if spec == "hold":
        path = work / "hold.yaml"
        path.write_text(HOLD)
        return path, {}, "hold (label, 5 s pause, read)"
    path = CANARY if spec == "canary" else Path(spec).resolve()
    if not path.is_file():
        raise SystemExit(f"--playbook {spec}: no such file (give canary, hold or a playbook path)")
    inputs = dict(FAST) if path == CANARY.resolve() else {}
    return path, inputs, str(path.relative_to(REPO) if path.is_relative_to(REPO) else path)


def _fleet_file(path: Path, names: list[str], parallelism: int, inputs: dict[str, str]) -> None:
    path.write_text(
        "version: 1\nname: bench\n"
        f"parallelism: {parallelism}\n"
        f"inputs: {json.dumps(inputs)}\n"
        "clusters:\n" + "".join(f"  - {{name: {n}}}\n" for n in names) +
        "waves:\n  - {name: canary, canary: true, select: {}}\n"
        f"  - {{name: rest, select: {{}}, size: {parallelism}}}\n")


def _fleet_spans(fleet_dir: Path) -> tuple[int, dict[str, list[float]], dict[str, str]]:
    """From the fleet journal: the number of waves, each cluster's [started, finished], each cluster's wave."""
    waves, spans, wave_of = 0, {}, {}
    for line in (fleet_dir / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "wave_started":
            waves += 1
        elif event["event"] == "cluster_started":
            spans[event["cluster"]] = [event["time"]]
            wave_of[event["cluster"]] = event["wave"]
        elif event["event"] == "cluster_finished" and event["cluster"] in spans:
            spans[event["cluster"]].append(event["time"])
    return waves, spans, wave_of


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=20, help="clusters in the fleet (default 20)")
    ap.add_argument("--full", action="store_true", help="50 clusters (the issue's scale; several minutes)")
    ap.add_argument("--parallelism", type=int, default=10, help="clusters at once inside a wave (default 10)")
    ap.add_argument("--playbook", default="canary",
                    help="canary (playbooks/canary-upgrade.yaml, without its soaks; the default), hold, or a path")
    ap.add_argument("--readiness-delay", type=float, default=2.0,
                    help="seconds before the emulator makes a new pod Ready (default 2: rollouts take wall time)")
    ap.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="another input for every run")
    args = ap.parse_args(argv)
    clusters = 50 if args.full else args.clusters
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    playbook, inputs, label = _playbook(args.playbook, work)
    inputs.update(dict(v.split("=", 1) for v in args.var))
    names = [f"c{i:03d}" for i in range(1, clusters + 1)]
    fleet_yaml = work / "fleet.yaml"
    _fleet_file(fleet_yaml, names, args.parallelism, inputs)
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0]

    print(f"starting {clusters + 1} emulated clusters ...", file=sys.stderr)
    rss0 = _rss_kb("self")
    t0 = time.perf_counter()
    emulated = EmulatedFleet([Member(n, readiness_delay=args.readiness_delay) for n in ["alone", *names]],
                             state_dir=work / "emulated").start()
    start_s = time.perf_counter() - t0
    emulator_rss_start = (_rss_kb("self") - rss0) / (clusters + 1)
    env = {**os.environ, **emulated.env(), "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    meter = Meter(emulated)
    try:
        print("one cluster alone ...", file=sys.stderr)
        var_args = [a for k, v in {"rev": "1-20-0", **inputs}.items() for a in ("--var", f"{k}={v}")]
        with meter:
            # As the fleet runs each cluster: JSON events on a pipe that is read to the end.
            single_proc = subprocess.run(
                [sys.executable, "-m", "engine.cli", "run", str(playbook), "--context", "alone", *var_args, "--yes",
                 "--output", "json", "--runs-dir", str(work / "single")],
                env=env, cwd=work, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        single = meter.result(single_proc.returncode)
        if single.rc != 0:
            print(single_proc.stdout[-3000:], single_proc.stderr[-2000:], file=sys.stderr)
            return 1

        print(f"fleet of {clusters} ...", file=sys.stderr)
        with meter:
            proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "fleet", "run", str(fleet_yaml), str(playbook),
                                     "--var", "rev=1-20-0", "--yes", "--fleets-dir", str(work / "fleets")],
                                    env=env, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            sampler = Sampler(proc.pid).start()
            out = proc.stdout.read()  # the fleet's plain progress lines (its events are in its journal)
            rc = proc.wait()
            sampler.stop()
        fleet = meter.result(rc)
        emulator_rss_end = (_rss_kb("self") - rss0) / (clusters + 1)
        downtime = emulated.downtime()
    finally:
        emulated.stop()
    if fleet.rc != 0:
        print(f"fleet run failed (exit {fleet.rc}):\n{out[-3000:]}", file=sys.stderr)
        return 1
    fleet_dir = next(d for d in (work / "fleets").iterdir() if d.is_dir())
    waves, spans, wave_of = _fleet_spans(fleet_dir)

    ideal = waves * single.wall
    ratio = fleet.wall / ideal
    floor = fleet.cpu / cores
    # Where the time went: the clusters' own runs (slower when they share the machine) against what the
    # fleet adds around them (start-up, pre-flight, between waves).
    durations = [end - start for start, end in spans.values()]
    slowest: dict[str, float] = {}
    for name, (start, end) in spans.items():
        slowest[wave_of[name]] = max(slowest.get(wave_of[name], 0.0), end - start)
    inside = sum(durations) / len(durations) if durations else 0.0
    orchestration = fleet.wall - sum(slowest.values())
    per_cluster_cpu = (fleet.cpu - sampler.fleet_cpu) / clusters
    per_cluster_rss = sum(sampler.per_cluster) / len(sampler.per_cluster) if sampler.per_cluster else 0
    ours = fleet.cpu / (fleet.wall * cores)
    if ratio <= TARGET:
        verdict = "holds"
    elif floor > TARGET * ideal:
        verdict = "missed, CPU-bound: the floor alone misses it; cut CPU per cluster or add cores"
    elif fleet.machine_busy > 0.9:
        verdict = "missed, the cores were saturated, mostly by other work: measure on a quiet machine"
    else:
        verdict = "missed though not CPU-bound: the time goes to waiting"
    mib = 1024
    rows = [
        ("playbook", label, ""),
        ("clusters / parallelism / waves", f"{clusters} / {args.parallelism} / {waves}", ""),
        ("emulator readiness delay", f"{args.readiness_delay:g} s", "seconds before a new pod is Ready"),
        ("cores / load average", f"{cores} / {load_before:.1f}", f"{os.getloadavg()[0]:.1f} at the end"),
        ("emulated fleet start-up", f"{start_s:.1f} s", ""),
        ("", "wall", "CPU (tree + emulator)"),
        ("single cluster alone", f"{single.wall:.1f} s",
         f"{single.cpu:.1f} s = {single.tree_cpu:.1f} + {single.emulator_cpu:.1f}"),
        ("fleet", f"{fleet.wall:.1f} s", f"{fleet.cpu:.1f} s = {fleet.tree_cpu:.1f} + {fleet.emulator_cpu:.1f}"),
        ("waves x single", f"{ideal:.1f} s", f"{waves} x {single.wall:.1f} s"),
        ("fleet / (waves x single)", f"{ratio:.2f}x", f"target {TARGET}x: {verdict}"),
        ("CPU-bound floor (fleet CPU / cores)", f"{floor:.1f} s",
         f"{floor / ideal:.2f}x waves x single; fleet wall is {fleet.wall / max(floor, ideal):.2f}x "
         "the larger of the two"),
        ("machine CPU busy while the fleet ran", f"{fleet.machine_busy:.0%}",
         f"of {cores} cores, every process's; this fleet's share {ours:.0%} (alone: {single.machine_busy:.0%} busy)"),
        ("CPU per cluster in the fleet", f"{per_cluster_cpu:.2f} s",
         f"{per_cluster_cpu / single.cpu:.2f}x the run alone ({single.cpu:.2f} s)"),
        ("fleet process's own CPU", f"{sampler.fleet_cpu:.1f} s",
         f"{sampler.fleet_cpu / fleet.cpu:.0%} of the fleet's CPU (orchestration, reading the clusters' events)"),
        ("mean cluster run inside the fleet", f"{inside:.1f} s", f"{inside / single.wall:.2f}x the run alone"),
        ("fleet time outside the slowest runs", f"{orchestration:.1f} s",
         "pre-flight, process start-up, waits between waves"),
        ("engine RSS per running cluster", f"{per_cluster_rss / mib:.0f} MiB",
         f"each cluster's `playbook run` process; largest {sampler.cluster_peak / mib:.0f} MiB"),
        ("fleet process RSS (peak)", f"{sampler.fleet_peak / mib:.0f} MiB", ""),
        ("fleet + engines RSS, all at once", f"{sampler.peak_total / mib:.0f} MiB", "peak"),
        ("emulator RSS per cluster", f"{emulator_rss_start / mib:.1f} MiB",
         f"{emulator_rss_end / mib:.1f} MiB after the run"),
        ("downtime", "none" if not downtime else f"{len(downtime)} clusters", ""),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value, note in rows:
        print(f"{name:<{width}}  {value:>14}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
