"""Loading a real cluster's dump into the emulator: a `kubectl get -A -o yaml`-like dump of a production cluster
(managedFields, status, ReplicaSets, pods, CRDs and custom resources the emulator does not model), from reading
the file to the emulated copy serving with every pod Ready. Target: under 2 s (CPU time; wall time is printed
beside it) for several hundred objects.

    python bench/dump_load_bench.py [--runs 5] [--namespaces 12 40]

The dump is the one the rehearsal tests use (tests/rehearse/realistic_dump.py); each size is generated once.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "rehearse")]

from engine.emulator import Emulator  # noqa: E402
from engine.emulator.cluster import load_cluster  # noqa: E402
from engine.emulator.dump import read_dump  # noqa: E402
from realistic_dump import write_realistic_dump  # noqa: E402

TARGET_S = 2.0


def measure(path: Path, runs: int) -> tuple[list[float], list[float], list[float], int]:
    """(read+parse times, wall times to a serving copy, CPU times of the same, objects created) over ``runs``.

    CPU time (this process, every thread) is what the load costs on an idle machine: on a shared one the
    wall time also counts the time other processes held the cores.
    """
    parse, total, cpu = [], [], []
    created = 0
    for _ in range(runs):
        c0, t0 = time.process_time(), time.perf_counter()
        spec = load_cluster(str(path))
        t1 = time.perf_counter()
        emu = Emulator(spec).start()
        t2, c2 = time.perf_counter(), time.process_time()
        created = len(emu.state()["items"])
        emu.stop()
        parse.append(t1 - t0)
        total.append(t2 - t0)
        cpu.append(c2 - c0)
    return parse, total, cpu, created


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--namespaces", type=int, nargs="+", default=[12, 40])
    args = ap.parse_args()
    print(f"{'dump':<44} {'objects':>7} {'MB':>5} {'parse':>7} {'serving':>8} {'(min)':>6} {'CPU':>6}  target "
          f"(CPU, median)")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.namespaces:
            path = write_realistic_dump(Path(tmp) / f"dump-{n}.yaml", namespaces=n)
            objects = len(read_dump(path).objects)
            parse, total, cpu, created = measure(path, args.runs)
            holds = statistics.median(cpu) < TARGET_S
            ok &= holds or n != args.namespaces[0]
            print(f"{f'{n} namespaces ({created} objects in the copy)':<44} {objects:>7} "
                  f"{path.stat().st_size / 1e6:>5.2f} {statistics.median(parse):>6.2f}s "
                  f"{statistics.median(total):>7.2f}s {min(total):>5.2f}s {statistics.median(cpu):>5.2f}s  "
                  f"< {TARGET_S:.0f} s: {'holds' if holds else 'MISSED'}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores while measuring)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
