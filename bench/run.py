#!/usr/bin/env python3
"""The benchmark: engine overhead against a bash loop and ansible-core, cold start, planning large playbooks,
parallel waves, the end-to-end canary upgrade on the emulator, and namespaces of mixed workload kinds moved
ten at a time. Prints one table with each target beside its figure.

    python bench/run.py            # everything (ansible-core up to N=1000: about 15 minutes)
    python bench/run.py --quick    # fewer runs, smaller N, ansible-core at N=50 only (about 2 minutes)
    python bench/run.py --only 6 --mixed-full   # mixed kinds at 200 namespaces / 1,000 workloads
    python bench/run.py --issue17  # only issue 17's targets (sections 1, 2, 3, 7, quick): 3-4 minutes

Every case is run several times, interleaved with the cases it is compared against (so a noisy machine slows
both sides alike), and the median is reported. ansible-core is installed into bench/.venv by this script.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".venv"
CANARY = ROOT / "playbooks" / "canary-upgrade.yaml"


# -- running and timing one command ---------------------------------------------------------------------


@dataclass
class Sample:
    wall: float  # seconds
    maxrss_mb: float  # the child's peak resident memory
    rc: int
    out: str = ""
    cpu: float = 0.0  # the child's user + system time, seconds (what a busy machine inflates least)


def timed(argv: list[str], *, env: dict | None = None, cwd: Path | None = None, keep_output: bool = False,
          expect_rc: int | None = 0) -> Sample:
    """Run argv once; wall time from fork to reaping, and the child's own ru_maxrss (from wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode("utf-8", "replace") if keep_output else ""
        if expect_rc is not None and proc.returncode != expect_rc:
            tail = err.read().decode("utf-8", "replace").strip().splitlines()[-5:]
            raise RuntimeError(f"{' '.join(argv[:4])}... exited {proc.returncode}: " + " | ".join(tail))
    return Sample(wall=wall, maxrss_mb=usage.ru_maxrss / 1024.0, rc=proc.returncode, out=text,
                  cpu=usage.ru_utime + usage.ru_stime)


class Series:
    """Named cases measured round-robin, `reps` times each; medians at the end."""

    def __init__(self) -> None:
        self.samples: dict[str, list[Sample]] = {}

    def add(self, name: str, sample: Sample) -> None:
        self.samples.setdefault(name, []).append(sample)

    def wall(self, name: str) -> float:
        return statistics.median(s.wall for s in self.samples[name])

    def cpu(self, name: str) -> float:
        return statistics.median(s.cpu for s in self.samples[name])

    def rss(self, name: str) -> float:
        return max(s.maxrss_mb for s in self.samples[name])

    def runs(self, name: str) -> int:
        return len(self.samples.get(name, []))

    def has(self, name: str) -> bool:
        return bool(self.samples.get(name))


def interleaved(cases: dict[str, Callable[[], Sample]], reps: dict[str, int] | int, series: Series,
                progress: Callable[[str], None]) -> None:
    most = max(reps.values()) if isinstance(reps, dict) else reps
    for rep in range(most):
        for name, fn in cases.items():
            want = reps.get(name, most) if isinstance(reps, dict) else reps
            if rep < want:
                progress(f"{name} (run {rep + 1}/{want})")
                series.add(name, fn())


# -- the table -------------------------------------------------------------------------------------------


@dataclass
class Row:
    measure: str
    figure: str
    against: str = ""
    ratio: str = ""
    target: str = ""
    holds: bool | None = None  # None: no target for this row
    cpu: str = ""  # the same figure from CPU times (user + system of the process and its children)
    cpu_holds: bool | None = None  # the target judged on the CPU figure: what a loaded machine inflates least


@dataclass
class Table:
    sections: list[tuple[str, list[Row]]] = field(default_factory=list)

    def section(self, title: str) -> list[Row]:
        rows: list[Row] = []
        self.sections.append((title, rows))
        return rows

    def render(self) -> str:
        head = ("measure", "figure", "against", "ratio", "target", "holds", "cpu figure", "holds by cpu")
        yes = lambda held: "" if held is None else ("yes" if held else "NO")  # noqa: E731

        def cols(r: Row) -> list[str]:
            return [r.measure, r.figure, r.against, r.ratio, r.target, yes(r.holds), r.cpu, yes(r.cpu_holds)]
        cells = [cols(r) for _, rows in self.sections for r in rows]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(head)]
        line = lambda cols: "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()  # noqa: E731
        out = [line(head), line(["-" * w for w in widths])]
        for title, rows in self.sections:
            out.append(f"[{title}]")
            for r in rows:
                out.append(line(cols(r)))
        held = [r.holds for _, rows in self.sections for r in rows if r.holds is not None]
        by_cpu = [r.cpu_holds for _, rows in self.sections for r in rows if r.cpu_holds is not None]
        out.append("")
        out.append(f"targets holding: {sum(held)} of {len(held)} on wall times; "
                   f"{sum(by_cpu)} of {len(by_cpu)} judged on CPU times")
        return "\n".join(out)


def secs(x: float) -> str:
    return f"{x:.3f} s" if x >= 0.1 else f"{x * 1000:.2f} ms"


# -- playbooks the bench writes ---------------------------------------------------------------------------


def steps_playbook(n: int, chained: bool, argv: list[str]) -> str:
    lines = ["version: 1", f"name: bench-{n}-{'chained' if chained else 'unchained'}", "steps:"]
    args = json.dumps(argv)
    for i in range(n):
        lines.append(f"  - id: s{i}")
        if chained and i:
            lines.append(f"    needs: [s{i - 1}]")
        lines += ["    uses: command", f"    with: {{args: {args}}}"]
    return "\n".join(lines) + "\n"


def ansible_play(n: int) -> str:
    lines = ["- hosts: localhost", "  connection: local", "  gather_facts: false", "  tasks:"]
    for i in range(n):
        lines += [f"    - name: t{i}", "      command: /bin/true"]
    return "\n".join(lines) + "\n"


def planning_playbook(n: int) -> str:
    """About n leaf steps: half written out (chained in runs of 20, with guards and rollbacks), half from groups
    expanded by for_each over 10 namespaces (5 inner steps each)."""
    items = [f"ns-{i}" for i in range(10)]
    groups = max(1, n // 100)
    plain = n - groups * 50
    out = ["version: 1", f"name: plan-{n}", "description: generated by bench/run.py", "inputs:",
           '  rev: {type: string, required: true, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}',
           "  old_rev: {type: string, default: default}",
           f"  namespaces: {{type: array, items: {{type: string}}, default: {json.dumps(items)}}}",
           "vars:", "  version: \"{{ rev | replace('-', '.') }}\"", "defaults: {timeout: 5m, retries: 0}",
           "steps:"]
    per_group = max(1, plain // groups)
    last = None
    count = 0
    for g in range(groups):
        for j in range(per_group if g < groups - 1 else plain - per_group * (groups - 1)):
            sid = f"s{count}"
            out.append(f"  - id: {sid}")
            if last and count % 20:
                out.append(f"    needs: [{last}]")
            if count % 7 == 0:
                out.append("    when: rev != old_rev")
            out += ["    uses: command",
                    f'    with: {{args: [echo, install, "--revision", "{{{{ rev }}}}", "{{{{ version }}}}", "{sid}"]}}']
            if count % 5 == 0:
                out += ["    rollback:", "      uses: command",
                        f'      with: {{args: [echo, undo, "{{{{ rev }}}}", "{sid}"]}}']
            last = sid
            count += 1
        gid = f"g{g}"
        out += [f"  - id: {gid}", f"    needs: [{last}]", '    for_each: "{{ namespaces }}"', "    steps:",
                "      - id: relabel", "        uses: command",
                '        with: {args: [echo, label, namespace, "{{ item }}", "istio.io/rev={{ rev }}"]}',
                "        rollback:", "          uses: command",
                '          with: {args: [echo, label, namespace, "{{ item }}", "istio.io/rev={{ old_rev }}"]}',
                "      - id: restart", "        needs: [relabel]", "        uses: command",
                '        with: {args: [echo, rollout, restart, deployment, -n, "{{ item }}"]}',
                "      - id: settled", "        needs: [restart]", "        uses: wait", "        with: {duration: 0s}",
                "      - id: on-new-proxy", "        needs: [settled]", "        uses: assert",
                "        with: {that: [\"item is string\", \"rev != old_rev\"], msg: \"{{ item }} still old\"}",
                "      - id: report", "        needs: [on-new-proxy]", "        uses: echo",
                '        with: {msg: "{{ item }} now on {{ version }} after {{ steps.restart.status }}"}']
        last = gid
    return "\n".join(out) + "\n"


def canary_standin() -> str:
    """The canary upgrade's shape with built-in plugins only (used until playbooks/canary-upgrade.yaml validates)."""
    return """version: 1
name: istio-canary-upgrade-standin
description: Revision-based, zero-downtime Istio upgrade (bench stand-in of the same size, built-in plugins).
inputs:
  rev: {type: string, required: true, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
  old_rev: {type: string, default: default}
  namespaces: {type: array, items: {type: string}, default: [test-namespace, staging-namespace, prod-1, prod-2]}
vars:
  version: "{{ rev | replace('-', '.') }}"
defaults: {timeout: 5m, retries: 0}
steps:
  - id: precheck
    uses: command
    with: {args: [echo, istioctl, x, precheck]}
  - id: install-control-plane
    needs: [precheck]
    uses: command
    with: {args: [echo, istioctl, install, -y, --revision, "{{ rev }}"]}
    rollback:
      uses: command
      with: {args: [echo, istioctl, uninstall, -y, --revision, "{{ rev }}"]}
  - id: istiod-ready
    needs: [install-control-plane]
    uses: wait
    with: {duration: 0s}
  - id: migrate
    needs: [istiod-ready]
    for_each: "{{ namespaces }}"
    serial: true
    steps:
      - id: relabel
        uses: command
        with: {args: [echo, kubectl, label, namespace, "{{ item }}", "istio-injection-", "istio.io/rev={{ rev }}"]}
        rollback:
          uses: command
          with: {args: [echo, kubectl, label, namespace, "{{ item }}", "istio.io/rev-", "istio-injection=enabled"]}
      - id: restart
        needs: [relabel]
        uses: command
        with: {args: [echo, kubectl, rollout, restart, deployment, -n, "{{ item }}"]}
      - id: settled
        needs: [restart]
        uses: wait
        with: {duration: 0s}
      - id: on-new-proxy
        needs: [settled]
        uses: assert
        with: {that: ["item is string"], msg: "pods in {{ item }} still run an old sidecar"}
  - id: tag-default
    needs: [migrate]
    when: rev != old_rev
    uses: command
    with: {args: [echo, istioctl, tag, set, default, --revision, "{{ rev }}", --overwrite]}
  - id: remove-old
    needs: [tag-default]
    uses: command
    with: {args: [echo, istioctl, uninstall, --revision, "{{ old_rev }}", -y]}
"""


EMULATOR_MEMORY = """
import gc, sys, time
from engine.emulator import Emulator

LARGE = {"istio": [{"revision": "default", "version": "1.19.3"}],
         "namespaces": [{"name": "team-{i}", "count": 20, "labels": {"istio-injection": "enabled"},
                         "deployments": {"count": 5, "name": "svc-{i}", "replicas": 2}}]}


def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024


cluster, count = (None if sys.argv[1] == "demo" else LARGE), int(sys.argv[2])
first = Emulator(cluster).start()  # the first one also pays for imports and the event loop thread's setup
time.sleep(1.0)
gc.collect()
base = rss_mb()
more = [Emulator(cluster).start() for _ in range(count)]
time.sleep(1.0)  # let controllers settle (pods scheduled, endpoints written)
gc.collect()
print((rss_mb() - base) / count, base)
for emu in more + [first]:
    emu.stop()
"""


# -- the bench ------------------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.work = Path(tempfile.mkdtemp(prefix="playbook-bench-"))
        self.runs_dir = self.work / "runs"
        # The run journal fsyncs every event: a second chained case journals to tmpfs, where a flush costs
        # nothing, to tell the engine's own overhead from the disk's.
        self.shm_runs = None
        if Path("/dev/shm").is_dir() and os.access("/dev/shm", os.W_OK):
            self.shm_runs = Path(tempfile.mkdtemp(prefix="playbook-bench-runs-", dir="/dev/shm"))
        self.playbook = self._find_playbook()
        self.python = str(Path(self.playbook[0]).parent / "python") if len(self.playbook) == 1 else sys.executable
        if not Path(self.python).exists():
            self.python = sys.executable
        # As installed, the engine's modules come from bytecode caches: a PYTHONDONTWRITEBYTECODE left in the
        # environment (some shells and CI images set it) would have every start-up compile them again.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        # The parse cache lives in the bench's directory: figures never depend on what an earlier bench left.
        self.env.update({"PLAYBOOK_RUNS_DIR": str(self.runs_dir), "NO_COLOR": "1",
                         "PLAYBOOK_CACHE_DIR": str(self.work / "cache")})
        self.table = Table()
        self.inner: dict[str, list[float]] = {}  # in-run durations (run_started -> run_finished) by case
        self.notes: list[str] = []

    def _find_playbook(self) -> list[str]:
        if self.args.playbook:
            return [self.args.playbook]
        local = ROOT / ".venv" / "bin" / "playbook"
        if local.exists():
            return [str(local)]
        found = shutil.which("playbook")
        return [found] if found else [sys.executable, "-m", "engine.cli"]

    def say(self, text: str) -> None:
        if not self.args.silent:
            print(f"  … {text}", file=sys.stderr, flush=True)

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text, encoding="utf-8")
        return path

    def pb(self, *args: str, keep_output: bool = False, expect_rc: int | None = 0,
           extra_env: dict | None = None) -> Sample:
        return timed(self.playbook + list(args), env={**self.env, **(extra_env or {})}, cwd=self.work,
                     keep_output=keep_output, expect_rc=expect_rc)

    def timed_run(self, name: str, path: Path, runs_dir: Path, *extra: str) -> Sample:
        """`playbook run` with JSON events; its own run_started -> run_finished time goes to self.inner[name]."""
        sample = self.pb("run", str(path), "--yes", "--quiet", "--runs-dir", str(runs_dir), "--output", "json",
                         *extra, keep_output=True)
        times = {}
        for line in sample.out.splitlines():
            if line.startswith("{"):
                rec = json.loads(line)
                if rec.get("event") in ("run_started", "run_finished"):
                    times[rec["event"]] = rec["time"]
        self.inner.setdefault(name, []).append(times["run_finished"] - times["run_started"])
        return sample

    def run_args(self, path: Path, *extra: str) -> list[str]:
        return ["run", str(path), "--yes", "--quiet", "--runs-dir", str(self.runs_dir), *extra]

    # ansible-core in its own venv

    def ansible(self) -> Path | None:
        exe = VENV / "bin" / "ansible-playbook"
        if exe.exists():
            return exe
        if self.args.no_ansible:
            return None
        print(f"installing ansible-core into {VENV.relative_to(ROOT)} (once)...", file=sys.stderr, flush=True)
        try:
            if not (VENV / "bin" / "python").exists():
                subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
            subprocess.run([str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "ansible-core"],
                           check=True, capture_output=True, timeout=600)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as err:
            detail = getattr(err, "stderr", b"") or b""
            last = detail.decode("utf-8", "replace").strip().splitlines()[-1:] if detail else [str(err)]
            self.notes.append(f"ansible-core could not be installed ({' '.join(last)}): compared without it")
            return None
        return exe if exe.exists() else None

    # 1. overhead per step

    def per_step(self) -> None:
        rows = self.table.section("1. overhead per step: /bin/true x N (playbook: run_started -> run_finished / N;"
                                  " bash, ansible-core: (T(N) - T(1)) / (N - 1))")
        ns = [50, 200] if self.quick else [50, 200, 1000]
        reps = 3 if self.quick else 5
        exe = self.ansible()
        ans_env = None
        if exe is not None:
            ans_env = {**os.environ, "ANSIBLE_PYTHON_INTERPRETER": str(VENV / "bin" / "python"),
                       "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_NOCOLOR": "1",
                       "ANSIBLE_HOME": str(self.work / "ansible-home")}
        ans_max = self.args.ansible_max_n if self.args.ansible_max_n is not None else (50 if self.quick else 1000)
        series = Series()
        cases: dict[str, Callable[[], Sample]] = {}
        rep_of: dict[str, int] = {}
        for n in [1] + ns:
            chained = self.write(f"chain-{n}.yaml", steps_playbook(n, True, ["/bin/true"]))
            unchained = self.write(f"flat-{n}.yaml", steps_playbook(n, False, ["/bin/true"]))
            cases[f"bash/{n}"] = lambda n=n: timed(["bash", "-c", f"for ((i=0;i<{n};i++)); do /bin/true; done"])
            # The playbook's per-step figure is timed inside the run, from its own events: its start-up (section
            # 2) is a few hundred ms of noise on this machine, which a difference T(N) - T(1) cannot cancel.
            cases[f"chained/{n}"] = lambda p=chained, k=f"chained/{n}": self.timed_run(k, p, self.runs_dir)
            if n > 1:
                cases[f"unchained/{n}"] = lambda p=unchained, k=f"unchained/{n}": self.timed_run(k, p, self.runs_dir)
                if self.shm_runs is not None:
                    cases[f"chained-tmpfs/{n}"] = lambda p=chained, k=f"chained-tmpfs/{n}": self.timed_run(
                        k, p, self.shm_runs)
            if exe is not None and n <= ans_max:
                play = self.write(f"ansible-{n}.yml", ansible_play(n))
                cases[f"ansible/{n}"] = lambda p=play: timed([str(exe), "-i", "localhost,", "-c", "local", str(p)],
                                                             env=ans_env, cwd=self.work)
                # ansible-core takes ~0.1-0.5 s a task: fewer runs of the long ones.
                rep_of[f"ansible/{n}"] = 1 if n >= 200 else min(reps, 3)
        interleaved(cases, {k: rep_of.get(k, reps) for k in cases}, series, self.say)

        def marginal(kind: str, n: int) -> float:
            return (series.wall(f"{kind}/{n}") - series.wall(f"{kind}/1")) / (n - 1)

        for n in ns:
            floor = marginal("bash", n)
            rows.append(Row(f"N={n} bash loop (the floor)", f"{secs(floor)}/step",
                            against=f"total {secs(series.wall(f'bash/{n}'))}"))
            kinds = ("chained", "unchained") + (("chained-tmpfs",) if self.shm_runs is not None else ())
            cpu_floor = (series.cpu(f"bash/{n}") - series.cpu("bash/1")) / (n - 1)
            rows[-1].cpu = f"{secs(cpu_floor)}/step"
            for kind in kinds:
                per = statistics.median(self.inner[f"{kind}/{n}"]) / n
                ratio = per / floor if floor > 0 else math.inf
                # CPU per step: the marginal CPU of the whole process (its children's included), as for bash;
                # the tmpfs case has no 1-step run of its own: its start-up is the disk case's.
                cpu_per = (series.cpu(f"{kind}/{n}") - series.cpu("chained/1")) / (n - 1)
                cpu_ratio = cpu_per / cpu_floor if cpu_floor > 0 else math.inf
                title = {"chained": "chained", "unchained": "unchained (max-parallel 4)",
                         "chained-tmpfs": "chained, journal on tmpfs (no disk flush)"}[kind]
                # The journal syncs to disk before every step; on tmpfs that costs nothing, so the engine's
                # own overhead is held to the tighter bound there.
                limit = 1.5 if kind == "chained-tmpfs" else 2.0
                rows.append(Row(f"N={n} playbook, {title}",
                                f"{secs(per)}/step", against="bash loop", ratio=f"{ratio:.2f}x",
                                target=f"<= {limit:g}x bash", holds=ratio <= limit,
                                cpu=f"{secs(cpu_per)}/step, {cpu_ratio:.2f}x", cpu_holds=cpu_ratio <= limit))
            if n == 200:
                whole, bash_whole = series.wall(f"chained/{n}"), series.wall(f"bash/{n}")
                ratio = whole / bash_whole
                cpu_ratio = series.cpu(f"chained/{n}") / series.cpu(f"bash/{n}")
                rows.append(Row(f"N={n} playbook, chained, whole process (start-up included)", secs(whole),
                                against=f"bash loop {secs(bash_whole)}", ratio=f"{ratio:.2f}x", target="<= 3x bash",
                                holds=ratio <= 3.0,
                                cpu=f"{secs(series.cpu(f'chained/{n}'))} vs {secs(series.cpu(f'bash/{n}'))}, "
                                    f"{cpu_ratio:.2f}x", cpu_holds=cpu_ratio <= 3.0))
            if series.has(f"ansible/{n}") and series.has("ansible/1"):
                ans = marginal("ansible", n)
                ours = statistics.median(self.inner[f"chained/{n}"]) / n
                ratio = ans / ours if ours > 0 else math.inf
                runs = series.runs(f"ansible/{n}")
                rows.append(Row(f"N={n} ansible-core, local ({runs} run{'s' if runs > 1 else ''})",
                                f"{secs(ans)}/step", against="playbook chained", ratio=f"{ratio:.1f}x slower",
                                target=">= 20x slower", holds=ratio >= 20))
            elif exe is None:
                rows.append(Row(f"N={n} ansible-core", "not measured: ansible-core not installed"))
            else:
                rows.append(Row(f"N={n} ansible-core", f"not measured (--ansible-max-n {ans_max})"))
        one, one_cpu = series.wall("chained/1"), series.cpu("chained/1")
        rows.append(Row("one 1-step run, whole process (playbook)", secs(one), against="bash 1 step",
                        ratio=f"{one / series.wall('bash/1'):.0f}x", target="< 0.15 s", holds=one < 0.15,
                        cpu=secs(one_cpu), cpu_holds=one_cpu < 0.15))
        if series.has("ansible/1"):
            rows.append(Row("startup of one 1-task run (ansible-core)", secs(series.wall("ansible/1"))))

    # 2. cold start

    def cold_start(self) -> None:
        rows = self.table.section("2. cold start")
        reps = 5 if self.quick else 11
        target = CANARY
        label = "playbooks/canary-upgrade.yaml"
        if not CANARY.exists() or self.pb("validate", str(CANARY), "--var", "rev=1-20-0", expect_rc=None).rc != 0:
            why = "missing" if not CANARY.exists() else "does not validate here"
            target = self.write("canary-standin.yaml", canary_standin())
            label = f"a stand-in of the canary playbook ({CANARY.name} {why})"
        series = Series()
        interleaved({
            "python": lambda: timed([self.python, "-c", "pass"]),
            "version": lambda: self.pb("--version"),
            "validate": lambda: self.pb("validate", str(target), "--var", "rev=1-20-0"),
        }, reps, series, self.say)
        base = series.wall("python")
        rows.append(Row("python3 -c pass", secs(base), cpu=secs(series.cpu("python"))))
        v, v_cpu = series.wall("version"), series.cpu("version")
        rows.append(Row("playbook --version", secs(v), against="python3 -c pass", ratio=f"{v / base:.1f}x",
                        target="< 0.3 s", holds=v < 0.3, cpu=secs(v_cpu), cpu_holds=v_cpu < 0.3))
        val, val_cpu = series.wall("validate"), series.cpu("validate")
        rows.append(Row(f"playbook validate {label}", secs(val), against="python3 -c pass",
                        ratio=f"{val / base:.1f}x", target="< 0.2 s", holds=val < 0.2, cpu=secs(val_cpu),
                        cpu_holds=val_cpu < 0.2))

    # 3. planning

    def planning(self) -> None:
        rows = self.table.section("3. planning generated playbooks (groups and for_each included)")
        reps = 1 if self.quick else 3
        series = Series()
        cases = {}
        sizes = (1000, 10000)
        # The engine keeps parsed documents in a cache keyed by the file's text (engine/parse_cache.py). What a
        # user sees: `validate` of a file never read before (empty cache), then `run --dry-run` of the same file
        # (the cache filled by that validate). A dry run of a file never read before is shown beside them.
        caches = iter(range(1 << 30))
        fresh = {}

        def cache_env(kind: str, n: int) -> dict:
            if kind != "dry-run (after validate)":
                fresh[n] = self.work / f"cache-{next(caches)}"
            return {"PLAYBOOK_CACHE_DIR": str(fresh[n])}

        for n in sizes:
            path = self.write(f"plan-{n}.yaml", planning_playbook(n))
            cases[f"validate/{n}"] = lambda p=path, n=n: self.pb(
                "validate", str(p), "--var", "rev=1-20-0", extra_env=cache_env("validate", n))
            cases[f"dry-run (after validate)/{n}"] = lambda p=path, n=n: self.pb(
                "run", str(p), "--dry-run", "--var", "rev=1-20-0", "--runs-dir", str(self.runs_dir),
                extra_env=cache_env("dry-run (after validate)", n))
            cases[f"dry-run (file not read before)/{n}"] = lambda p=path, n=n: self.pb(
                "run", str(p), "--dry-run", "--var", "rev=1-20-0", "--runs-dir", str(self.runs_dir),
                extra_env=cache_env("dry-run (file not read before)", n))
        interleaved(cases, reps, series, self.say)
        for n in sizes:
            for kind in ("validate", "dry-run (after validate)", "dry-run (file not read before)"):
                name = f"{kind}/{n}"
                took, cpu = series.wall(name), series.cpu(name)
                label = "validate (file not read before)" if kind == "validate" else kind
                rows.append(Row(f"{label} of {n:,} steps", f"{secs(took)}, {series.rss(name):.0f} MB",
                                cpu=secs(cpu), **({"target": "< 3 s each", "holds": took < 3.0,
                                                   "cpu_holds": cpu < 3.0} if n == 10000 else {})))
            both = series.wall(f"validate/{n}") + series.wall(f"dry-run (after validate)/{n}")
            both_cpu = series.cpu(f"validate/{n}") + series.cpu(f"dry-run (after validate)/{n}")
            rss = max(series.rss(f"{kind}/{n}") for kind in ("validate", "dry-run (after validate)",
                                                              "dry-run (file not read before)"))
            if n == 10000:
                rows.append(Row(f"validate + dry-run of {n:,} steps (the two added)", secs(both),
                                target="< 3 s together", holds=both < 3.0, cpu=secs(both_cpu),
                                cpu_holds=both_cpu < 3.0))
                rows.append(Row(f"peak memory, {n:,} steps", f"{rss:.0f} MB", target="< 300 MB", holds=rss < 300))

    # 4. parallel waves

    def parallel(self) -> None:
        rows = self.table.section("4. parallel waves: 32 independent `sleep 0.2` (run_started -> run_finished)")
        reps = 3 if self.quick else 5
        path = self.write("waves.yaml", steps_playbook(32, False, ["sleep", "0.2"]))
        series = Series()
        inner: dict[str, list[float]] = {}

        def one(p: int) -> Sample:
            s = self.pb(*self.run_args(path, "--max-parallel", str(p), "--output", "json"), keep_output=True)
            times = {}
            for line in s.out.splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and rec.get("event") in ("run_started", "run_finished"):
                    times[rec["event"]] = rec["time"]
            inner.setdefault(str(p), []).append(times["run_finished"] - times["run_started"])
            return s

        levels = (1, 4, 16)
        interleaved({str(p): (lambda p=p: one(p)) for p in levels}, reps, series, self.say)
        for p in levels:
            ideal = math.ceil(32 / p) * 0.2
            got = statistics.median(inner[str(p)])
            ratio = got / ideal
            rows.append(Row(f"--max-parallel {p}", f"{secs(got)} (wall {secs(series.wall(str(p)))})",
                            against=f"ideal {secs(ideal)}", ratio=f"{ratio:.3f}x", target="<= 1.15x",
                            holds=ratio <= 1.15))

    # 7. memory

    def memory(self) -> None:
        rows = self.table.section("7. memory (peak RSS of the engine process; emulators: RSS added in one process)")
        reps = 3 if self.quick else 5
        wide = 32
        paths = {1: self.write("memory-1.yaml", steps_playbook(1, False, ["sleep", "1"])),
                 wide: self.write(f"memory-{wide}.yaml", steps_playbook(wide, False, ["sleep", "1"]))}
        series = Series()
        interleaved({str(p): (lambda p=p: self.pb(*self.run_args(paths[p], "--max-parallel", str(p))))
                     for p in (1, wide)}, reps, series, self.say)
        # Peak RSS with `wide` steps running at once against one at a time: what each running step holds (its
        # worker thread, process handle, captured output) beside the engine's fixed cost. Medians of peaks.
        low = statistics.median(x.maxrss_mb for x in series.samples["1"])
        high = statistics.median(x.maxrss_mb for x in series.samples[str(wide)])
        rows.append(Row("engine, one step running", f"{low:.1f} MB"))
        rows.append(Row(f"engine, {wide} steps running at once", f"{high:.1f} MB",
                        against="one step running", ratio=f"+{high - low:.1f} MB"))
        rows.append(Row("memory per running step", f"{max(high - low, 0) / (wide - 1) * 1024:.0f} KB"))
        probe = self.write("memory-emulator.py", EMULATOR_MEMORY)
        for label, cluster in (("demo cluster", "demo"), ("20 namespaces / 100 deployments", "large")):
            sample = timed([self.python, str(probe), cluster, "3"], env={**self.env, "PYTHONPATH": str(ROOT)},
                           cwd=self.work, keep_output=True)
            per, base = (float(x) for x in sample.out.split())
            rows.append(Row(f"memory per emulated cluster, {label}", f"{per:.1f} MB",
                            against="process with the emulator imported", ratio=f"{base:.0f} MB"))

    # 5. end to end on the emulator

    def end_to_end(self) -> None:
        self._on_emulator("5. end to end: canary upgrade on the emulator, 20 namespaces / 100 deployments",
                          "canary upgrade", "e2e", "measure_end_to_end")

    # 6. a real cluster's mix, paced

    def mixed(self) -> None:
        n = self.args.mixed_namespaces or 40
        self._on_emulator(f"6. end to end: {n} namespaces / {n * 5:,} workloads of mixed kinds, 10 at a time"
                          + ("" if self.args.mixed_namespaces else " (--mixed-full: 200 / 1,000)"),
                          "mixed upgrade", "mixed_workloads", "measure_mixed")

    def _on_emulator(self, title: str, case: str, module: str, function: str) -> None:
        """A section measured by bench/MODULE.py (imported only here: it imports the emulator)."""
        rows = self.table.section(title)
        reason = self._e2e_missing()
        if reason:
            rows.append(Row(case, f"not measured: {reason}"))
            return
        # The emulator runs in this process: from this checkout, not wherever the virtualenv's install points.
        sys.path[:0] = [str(ROOT), str(BENCH)]
        measure = getattr(__import__(module), function)
        measure(self, rows, Row=Row, secs=secs, timed=timed, CANARY=CANARY)

    def _e2e_missing(self) -> str | None:
        if not CANARY.exists():
            return "playbooks/canary-upgrade.yaml does not exist yet"
        if not (ROOT / "engine" / "emulator" / "emulator.py").exists():
            return "the emulator (engine/emulator) does not exist yet"
        if not (BENCH / "e2e.py").exists():
            return "bench/e2e.py (the end-to-end case) is not written yet"
        return None

    # the whole thing

    def main(self) -> int:
        sections = {"1": self.per_step, "2": self.cold_start, "3": self.planning, "4": self.parallel,
                    "5": self.end_to_end, "6": self.mixed, "7": self.memory}
        chosen = self.args.only.split(",") if self.args.only else list(sections)
        started = time.time()
        self.load_at_start = os.getloadavg()[0]  # a busy machine inflates wall times: say how busy it was
        try:
            for key in chosen:
                try:
                    sections[key.strip()]()
                except Exception as err:  # noqa: BLE001 — a broken case is reported, the others still run
                    self.table.section(f"{key}. failed").append(Row("error", f"{type(err).__name__}: {err}"))
        finally:
            if not self.args.keep:
                shutil.rmtree(self.work, ignore_errors=True)
            if self.shm_runs is not None:
                shutil.rmtree(self.shm_runs, ignore_errors=True)
        load = "load average %.1f at the start, %.1f at the end" % (self.load_at_start, os.getloadavg()[0])
        print(f"playbook benchmarks — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores ({load}), "
              f"{'quick' if self.quick else 'full'} mode, medians, {time.time() - started:.0f} s")
        print(self.table.render())
        if max(self.load_at_start, os.getloadavg()[0]) > (os.cpu_count() or 1):
            print(f"note: the machine was busy (load above its {os.cpu_count()} cores): wall times of short processes "
                  "are inflated several-fold; judge the targets by the CPU column")
        for note in self.notes:
            print(f"note: {note}")
        if self.args.json:
            Path(self.args.json).write_text(json.dumps(
                [{"section": t, **r.__dict__} for t, rows in self.table.sections for r in rows], indent=1))
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer runs, N up to 200, ansible-core at N=50 only")
    parser.add_argument("--issue17", action="store_true",
                        help="only the targets of issue 17 (start-up, per-step cost, planning, memory): the same as "
                             "--quick --only 1,2,3,7 --no-ansible, a few minutes")
    parser.add_argument("--only", help="comma-separated sections to run: 1 per-step, 2 cold start, 3 planning, "
                                       "4 parallel waves, 5 end to end, 6 mixed kinds (40 namespaces; --mixed-full: 200), "
                                       "7 memory")
    parser.add_argument("--no-ansible", action="store_true", help="do not install ansible-core if it is missing")
    parser.add_argument("--ansible-max-n", type=int, help="largest N to run ansible-core at (default 1000; quick 50)")
    parser.add_argument("--playbook", help="the playbook executable to measure (default: .venv/bin/playbook)")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    parser.add_argument("--keep", action="store_true", help="keep the generated playbooks and runs (prints where)")
    parser.add_argument("--silent", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--mixed-full", dest="mixed_namespaces", action="store_const", const=200,
                        help="section 6 at issue 12's size: 200 namespaces / 1,000 workloads (default 40 / 200)")
    args = parser.parse_args(argv)
    if args.issue17:
        args.quick, args.no_ansible = True, True
        args.only = args.only or "1,2,3,7"
    bench = Bench(args)
    if args.keep:
        print(f"work dir: {bench.work}", file=sys.stderr)
    return bench.main()


if __name__ == "__main__":
    sys.exit(main())
