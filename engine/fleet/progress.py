"""How a fleet change is shown while it runs: JSON lines (every fleet event and every cluster's events, each
carrying `cluster` and `wave`), plain lines, or on a terminal a block redrawn in place with the clusters by
wave and each one's current step. Also the fleet's webhook notifications, which name the cluster and wave.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from typing import IO, Any, Callable

from ..durations import format_duration
from .journal import FleetState
from .plan import FleetPlan

MARK = {"pending": "·", "running": "▶", "succeeded": "✓", "failed": "✗", "rollback_failed": "✗!", "invalid": "✗",
        "killed": "✗", "rolled_back": "↺", "stopped": "‖", "blocked": "-"}


def fleet_line(r: dict[str, Any]) -> str | None:
    """The text of one fleet event (None for a cluster's own events, which the text view does not list)."""
    k = r.get("event")
    if "step" in r:  # a cluster's (or gate's) own run event
        return None
    if k == "fleet_started":
        return f"fleet {r['fleet']}: {r['clusters']} clusters in {len(r['waves'])} waves, playbook {r['playbook']}"
    if k == "attempt_started":
        return f"— fleet {r.get('command')}"
    if k == "wave_started":
        return f"wave {r['wave']}: {', '.join(r['clusters'])} (up to {r['parallelism']} at once)"
    if k == "cluster_started":
        return f"  ▶ {r['cluster']}: {r.get('command', 'run')}" + (f" {r['run_id']}" if r.get("run_id") else "")
    if k == "cluster_finished":
        msg = f" — {r['message']}" if r.get("message") else ""
        return f"  {MARK.get(r['status'], '?')} {r['cluster']}: {r['status']}{msg}"
    if k == "wave_finished":
        return f"wave {r['wave']}: done"
    if k == "soak_started":
        return f"soak after wave {r['wave']}: {format_duration(r['seconds'])}"
    if k == "gate_started":
        return f"gate after wave {r['wave']}"
    if k == "gate_finished" and r.get("message") != "no gate":
        return f"gate after wave {r['wave']}: {r['status']}" + (f" — {r['message']}" if r.get("message") else "")
    if k == "wave_confirm":
        return f"wave {r['wave']}: confirmation: {r['answer']}"
    if k == "fleet_halted":
        return f"HALT ({r['reason']}): {r['message']}; no new cluster starts, running ones {r['running_action']}"
    if k == "fleet_rollback_begun":
        return "rolling back, newest first: " + (", ".join(r["clusters"]) or "nothing to undo")
    if k == "cluster_rollback_started":
        return f"  ↺ {r['cluster']}: rolling back run {r.get('run_id')}"
    if k == "cluster_rollback_finished":
        return f"  {'↺' if r['status'] == 'succeeded' else '✗'} {r['cluster']}: rollback {r['status']}"
    if k == "fleet_rollback_abandoned":
        return "rollback abandoned; left: " + ", ".join(r["remaining"])
    if k == "fleet_finished":
        return f"fleet {r['status']} (exit {r['exit_code']})" + (f": {r['message']}" if r.get("message") else "")
    return None


def child_line(r: dict[str, Any]) -> str | None:
    """A fleet event's line, a cluster's failed step, or a gate's output (its questions among it)."""
    line = fleet_line(r)
    if line is None and r.get("event") == "step_failed" and (r.get("cluster") or r.get("gate")):
        line = f"    {r.get('cluster') or 'gate ' + r['gate']}: ✗ {r.get('step')}: {r.get('message', '')}"
    elif line is None and r.get("event") == "step_output" and r.get("gate"):
        line = f"    gate {r['gate']}: {r.get('line', '')}"
    return line


class JsonPresenter:
    """One JSON object per line: fleet events, and each cluster's run events with `cluster` and `wave` added."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, record: dict) -> None:
        self.stream.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        pass


class TextPresenter:
    """A line per fleet event; a cluster's failed steps are named as they fail."""

    shows_output = False  # of a cluster's run (a gate's output is shown)

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, record: dict) -> None:
        line = child_line(record)
        if line is not None:
            self.stream.write(line + "\n")
            self.stream.flush()

    def close(self) -> None:
        pass


def progress_block(plan: FleetPlan, state: FleetState, now: float | None = None, width: int = 110) -> list[str]:
    """Clusters by wave with status and current step; waves done or not begun take one line each."""
    now = now or time.time()
    lines = []
    for w in plan.waves:
        cs = [state.clusters[c] for c in w.clusters]
        active = [c for c in cs if c.status == "running"] or None
        counts: dict[str, int] = {}
        for c in cs:
            counts[c.status] = counts.get(c.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        lines.append(f"wave {w.name} [{summary}]")
        if not active and all(c.status in ("pending", "succeeded") for c in cs):
            continue
        for c in cs:
            took = f" {format_duration(now - c.started)}" if c.status == "running" and c.started else ""
            step = f"  {c.step}" if c.status == "running" and c.step else ""
            lines.append(f"  {MARK.get(c.status, '?')} {c.name:<20} {c.status}{took}{step}"[:width])
    return lines


class LivePresenter:
    """On a terminal: fleet events scroll above a block redrawn in place (clusters by wave, current steps)."""

    shows_output = False  # of a cluster's run (a gate's output is shown)

    def __init__(self, stream: IO[str], plan: FleetPlan, state: FleetState, interval: float = 0.5) -> None:
        self.stream = stream
        self.plan = plan
        self.state = state
        self.drawn = 0
        self.hold = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, args=(interval,), daemon=True)
        self._thread.start()

    def __call__(self, record: dict) -> None:
        line = child_line(record)
        kind = record.get("event")
        with self._lock:
            # While a question is asked on this terminal (a wave's confirmation, a gate's approval), the block
            # is not redrawn over it.
            if kind in ("gate_started", "wave_confirm_asked"):
                self._clear()
                self.hold = True
            if line is not None:
                self._clear()
                self.stream.write(line + "\n")
                if not self.hold:
                    self._draw()
                else:
                    self.stream.flush()
            if kind in ("gate_finished", "wave_confirm"):
                self.hold = False
                self._draw()

    def _clear(self) -> None:
        if self.drawn:
            self.stream.write(f"\x1b[{self.drawn}A\x1b[J")
            self.drawn = 0

    def _draw(self) -> None:
        block = progress_block(self.plan, self.state)
        self.stream.write("\n".join(block) + "\n")
        self.stream.flush()
        self.drawn = len(block)

    def _tick(self, interval: float) -> None:
        while not self._stop.wait(interval):
            with self._lock:
                if not self.hold:
                    self._clear()
                    self._draw()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class FleetNotifier:
    """POSTs cluster failures, halts, rollbacks and the end to a webhook; each body names the cluster and wave."""

    def __init__(self, url: str, fleet_id: str, fleet: str, say: Callable[[str], None],
                 post: Callable[[str, bytes], None] | None = None) -> None:
        from ..notify import _post
        self.url, self.fleet_id, self.fleet, self.say = url, fleet_id, fleet, say
        self.post = post or _post
        self._threads: list[threading.Thread] = []

    def __call__(self, r: dict) -> None:
        k = r.get("event")
        if k == "cluster_finished" and r["status"] not in ("succeeded", "blocked"):
            self._send({"event": "cluster_failed", "cluster": r["cluster"], "wave": r["wave"], "status": r["status"],
                        "run": r.get("run_id"), "message": r.get("message", "")})
        elif k == "fleet_halted":
            self._send({"event": "halted", "reason": r["reason"], "message": r["message"]})
        elif k == "cluster_rollback_finished":
            self._send({"event": "cluster_rolled_back" if r["status"] == "succeeded" else "cluster_rollback_failed",
                        "cluster": r["cluster"], "wave": r["wave"]})
        elif k == "fleet_finished":
            self._send({"event": "finished", "status": r["status"], "exit_code": r["exit_code"],
                        "message": r.get("message", "")}, wait=True)

    def _send(self, body: dict, wait: bool = False) -> None:
        payload = json.dumps({"fleet": self.fleet, "fleet_run": self.fleet_id, **body}).encode("utf-8")
        thread = threading.Thread(target=self._deliver, args=(payload, body["event"]), daemon=True)
        thread.start()
        self._threads.append(thread)
        if wait:
            for t in self._threads:
                t.join(6)

    def _deliver(self, payload: bytes, kind: str) -> None:
        try:
            self.post(self.url, payload)
        except (OSError, ValueError) as err:
            host = urllib.parse.urlsplit(self.url).netloc
            self.say(f"note: the {kind} notification to {host} failed: {getattr(err, 'reason', err)}")
