"""End-to-end harness: the shipped playbooks run through the real `playbook` CLI (a subprocess) against an
Emulator started in this process, with real kubectl and the emulator's istioctl/helm stand-ins on PATH.

`cluster_state(emu)` is what "the cluster ends as it began" compares: namespace injection labels, each
workload's proxy images, the control planes, their webhooks and configmaps, tags and the gateway selector.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from engine.emulator import Emulator

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
KUBECTL = shutil.which("kubectl")
FAST = ["--var", "soak_between_waves=0s", "--var", "soak_before_promote=0s"]
SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}


@dataclass
class Run:
    """One finished `playbook run`: exit code, output, and its events when run with --output json."""

    rc: int
    out: str
    err: str
    events: list[dict] = field(default_factory=list)

    def finished(self) -> dict:
        return next(e for e in reversed(self.events) if e["event"] == "run_finished")

    def why(self) -> str:
        """What to show when a run did not end as expected: its failures and rollbacks, and stderr."""
        shown = [f"{e['event']} {e['step']}: {e.get('message', '')}" for e in self.events
                 if e["event"] in ("step_failed", "rollback_failed", "run_stopped", "run_finished")]
        return "\n".join(shown or [self.out[-3000:]]) + "\n" + self.err[-2000:]

    def keys(self, kind: str) -> list[str]:
        return [e["step"] for e in self.events if e["event"] == kind]


def stream_cli(args: list[str], *, cwd: Path, env: dict[str, str], json_events: bool = True,
               on_event: Callable[[dict, subprocess.Popen], None] | None = None,
               timeout: float = 240) -> tuple[int, str, str, list[dict]]:
    """`playbook ARGS` as a subprocess, its stdout read as it comes: each JSON event goes to on_event(event, proc)
    (which may signal the process). Returns (exit code, stdout, stderr, events); fails after `timeout` s."""
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    reader.start()
    out_lines, events = [], []
    deadline = time.time() + timeout
    for line in proc.stdout:
        out_lines.append(line)
        if json_events and line.startswith("{"):
            events.append(json.loads(line))
            if on_event is not None:
                on_event(events[-1], proc)
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"playbook {args[0]} took longer than {timeout}s:\n{''.join(out_lines[-40:])}")
    rc = proc.wait(timeout=60)
    reader.join(timeout=5)
    return rc, "".join(out_lines), "".join(err_lines), events


def run_playbook(emu: Emulator, playbook: str, *args: str, tmp: Path, json_events: bool = True,
                 on_event: Callable[[dict], None] | None = None, timeout: float = 240,
                 interrupt_at: str | None = None) -> Run:
    """`playbook run playbooks/PLAYBOOK ARGS --yes` against `emu`, as an SRE would with KUBECONFIG set.

    `interrupt_at`: press Ctrl-C (SIGINT) when that step starts.
    """
    env = {**os.environ, **emu.env(), "PYTHONUNBUFFERED": "1", "PLAYBOOK_RUNS_DIR": str(tmp / "runs")}
    argv = ["run", str(PLAYBOOKS / playbook), *args, "--yes", "-q"] + (["--output", "json"] if json_events else [])

    def seen(event: dict, proc: subprocess.Popen) -> None:
        if on_event is not None:
            on_event(event)
        if interrupt_at is not None and event["event"] == "step_started" and event["step"] == interrupt_at:
            proc.send_signal(signal.SIGINT)
    return Run(*stream_cli(argv, cwd=tmp, env=env, json_events=json_events, on_event=seen, timeout=timeout))


def _proxy(pod: dict) -> str | None:
    for c in pod["spec"].get("containers") or []:
        if c["name"] == "istio-proxy":
            return c["image"]
    return None


def _workload(pod: dict) -> str:
    labels = pod["metadata"].get("labels") or {}
    return f"{pod['metadata']['namespace']}/{labels.get('app', pod['metadata']['name'])}"


def cluster_state(emu: Emulator) -> dict:
    """The parts of the cluster an upgrade changes and a rollback must restore."""
    objects = emu.state()["items"]
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    labels = {}
    for ns in by_kind.get("Namespace", []):
        name = ns["metadata"]["name"]
        if name in SYSTEM_NAMESPACES:
            continue
        own = ns["metadata"].get("labels") or {}
        labels[name] = {k: v for k, v in own.items() if k in ("istio-injection", "istio.io/rev")}
    proxies: dict[str, list[str]] = {}
    for pod in by_kind.get("Pod", []):
        if pod["metadata"].get("deletionTimestamp") or pod.get("status", {}).get("phase") in ("Succeeded", "Failed"):
            continue
        proxies.setdefault(_workload(pod), []).append(_proxy(pod) or "no proxy")
    gateway = next((s for s in by_kind.get("Service", []) if s["metadata"]["name"] == "istio-ingressgateway"),
                   None)

    def names(kind: str, namespace: str | None = None) -> list[str]:
        return sorted(o["metadata"]["name"] for o in by_kind.get(kind, [])
                      if namespace is None or o["metadata"].get("namespace") == namespace)

    return {
        "labels": labels,
        "proxies": {k: sorted(v) for k, v in sorted(proxies.items())},
        "deployments": names("Deployment", "istio-system"),
        "mutating_webhooks": names("MutatingWebhookConfiguration"),
        "validating_webhooks": names("ValidatingWebhookConfiguration"),
        "configmaps": [n for n in names("ConfigMap", "istio-system") if not n.startswith("kube-root")],
        "istiooperators": names("IstioOperator"),
        "gateway_selector": (gateway or {}).get("spec", {}).get("selector"),
    }


def downtime(emu: Emulator) -> dict[str, list]:
    """Deployments that had no ready replica at some moment (empty when there was no downtime)."""
    return {k: v for k, v in emu.downtime_report().items() if v}


def wait_settled(emu: Emulator, timeout: float = 30) -> None:
    """Wait until no pod of any deployment is still starting or terminating (after the run's last restart)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        pods = [o for o in emu.state()["items"] if o["kind"] == "Pod"
                and (o.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]  # a finished Job's
        busy = [p for p in pods if p["metadata"].get("deletionTimestamp")
                or not any(c.get("type") == "Ready" and c.get("status") == "True"
                           for c in (p.get("status") or {}).get("conditions") or [])]
        if not busy:
            return
        time.sleep(0.1)
    raise AssertionError(f"pods still not settled after {timeout}s")
