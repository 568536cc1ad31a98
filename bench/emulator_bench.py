"""Emulator benchmark: start-up time and API throughput from kubectl-style clients, each beside its target.

    python bench/emulator_bench.py [--seconds 5] [--concurrency 8]

Start-up is measured in-process (``Emulator(...).start()``, the way ``playbook run --emulate`` starts it)
for the demo cluster and for 20 namespaces / 100 deployments. Throughput is measured against an emulator in
its own process (as ``playbook emulate`` runs it), so client and server do not share one interpreter: keep-alive
connections issue the calls kubectl makes (GET an object, LIST pods by label, LIST as a Table).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from engine.emulator import Emulator  # noqa: E402

LARGE = {"istio": [{"revision": "default", "version": "1.19.3"}],
         "namespaces": [{"name": "team-{i}", "count": 20, "labels": {"istio-injection": "enabled"},
                         "deployments": {"count": 5, "name": "svc-{i}", "replicas": 2}}]}
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def startup(cluster, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        emu = Emulator(cluster).start()
        times.append(time.perf_counter() - t0)
        emu.stop()
    return times


async def _worker(session: aiohttp.ClientSession, base: str, deadline: float, counts: list[int], n: int) -> None:
    paths = [
        ("/apis/apps/v1/namespaces/test-namespace/deployments/frontend", "application/json"),
        ("/api/v1/namespaces/test-namespace/pods?labelSelector=app%3Dfrontend", "application/json"),
        ("/apis/apps/v1/namespaces/staging-namespace/deployments", TABLE),
        ("/api/v1/namespaces/production-namespace-1", "application/json"),
    ]
    i = n
    while time.perf_counter() < deadline:
        path, accept = paths[i % len(paths)]
        async with session.get(base + path, headers={"Accept": accept}) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{path}: HTTP {resp.status}")
        counts[n] += 1
        i += 1


async def throughput(base: str, seconds: float, concurrency: int) -> float:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        counts = [0] * concurrency
        await _worker(session, base, time.perf_counter() + 0.5, [0] * concurrency, 0)  # warm up
        t0 = time.perf_counter()
        await asyncio.gather(*(_worker(session, base, t0 + seconds, counts, n) for n in range(concurrency)))
        return sum(counts) / (time.perf_counter() - t0)


def serve_in_subprocess(state_dir: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "engine.emulator.cli", "--state-dir", state_dir], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        if line.startswith("export PLAYBOOK_EMULATOR_URL="):
            return proc, line.split("=", 1)[1].strip()
    raise RuntimeError("the emulator did not start")


def kubectl_rate(state_dir: str, seconds: float) -> float | None:
    kubeconfig = Path(state_dir) / "kubeconfig"
    if not kubeconfig.exists():
        return None
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        subprocess.run(["kubectl", "get", "pods", "-n", "test-namespace"], env=env, capture_output=True, check=True)
        n += 1
    return n / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    rows = []
    demo = startup(None, args.runs)
    rows.append(("start-up, demo cluster (median)", f"{statistics.median(demo):.3f} s", "< 1 s",
                 statistics.median(demo) < 1))
    large = startup(LARGE, max(1, args.runs // 2))
    rows.append(("start-up, 20 ns / 100 deployments (median)", f"{statistics.median(large):.3f} s", "< 1 s",
                 statistics.median(large) < 1))
    colds = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as state_dir:
            t0 = time.perf_counter()
            proc, _url = serve_in_subprocess(state_dir)
            colds.append(time.perf_counter() - t0)
            proc.terminate()
            proc.wait(timeout=10)
    cold = statistics.median(colds)
    rows.append(("cold start of `emulate` process, demo, imports included (median)", f"{cold:.3f} s", "< 1 s",
                 cold < 1))
    with tempfile.TemporaryDirectory() as state_dir:
        proc, url = serve_in_subprocess(state_dir)
        try:
            rate = asyncio.run(throughput(url, args.seconds, args.concurrency))
            rows.append((f"API requests/s, {args.concurrency} keep-alive clients", f"{rate:.0f}/s", ">= 500/s",
                         rate >= 500))
            if shutil.which("kubectl"):
                k = kubectl_rate(state_dir, min(args.seconds, 3))
                if k is not None:
                    rows.append(("`kubectl get pods` invocations/s (serial)", f"{k:.1f}/s", "(context)", True))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':>12}  {'target':>10}  verdict")
    for name, figure, target, ok in rows:
        print(f"{name:<{width}}  {figure:>12}  {target:>10}  {'ok' if ok else 'MISSED'}")
    return 0 if all(r[3] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
