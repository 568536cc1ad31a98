"""The fleet's decisions as pure functions: which clusters of a wave start now, whether a cluster's end halts the
fleet, and how the fleet ends. Pure (no clock, no I/O, no threads), so the local orchestrator and the Temporal
fleet workflow (which may run only deterministic code) decide alike.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_ROLLBACK_FAILED, EXIT_STOPPED

# Cluster results that count against the failure budget.
FAILURES = ("failed", "rollback_failed", "invalid", "killed")
# A primary in one of these will not upgrade in this attempt: the remotes waiting for it are blocked.
PRIMARY_GONE = (*FAILURES, "stopped", "rolled_back")


@dataclass(frozen=True)
class Halt:
    """Why the fleet halts: `reason` (budget_exceeded, rollback_failed, stopped, gate_failed, interrupted), a
    message, and whether running clusters are stopped (None: as on_halt.running says)."""

    reason: str
    message: str
    stop_running: bool | None = None


@dataclass
class Picked:
    """The clusters of a wave to start now, in order, and those that will never start (cluster, why)."""

    start: list[str] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(default_factory=list)


def pick(todo: list[str], running: int, parallelism: int, after: dict[str, str],
         status: dict[str, str]) -> Picked:
    """Which of a wave's waiting clusters (`todo`, in start order) start now, with `running` already running.

    A remote waits for its primary in the same wave (`after`) to succeed, and is blocked when the primary did not
    upgrade; the others start in order while fewer than `parallelism` run.
    """
    out = Picked()
    for name in todo:
        if running + len(out.start) >= parallelism:
            break
        primary = after.get(name)
        if primary is not None:
            pstatus = status.get(primary, "pending")
            if pstatus in PRIMARY_GONE:
                out.blocked.append((name, f"its primary {primary} did not upgrade ({pstatus})"))
                continue
            if pstatus != "succeeded":
                continue  # waits for its primary
        out.start.append(name)
    return out


def judge(name: str, status: str, failures: int, allowed: int, budget: str) -> tuple[int, Halt | None]:
    """After cluster `name` ended with `status`: the failures so far and the halt it causes, if any.

    A failure beyond the budget (`allowed`, described by `budget`) halts; a failed rollback halts at once (a
    person must look); a cluster stopped before a step that needs confirmation halts without stopping the others.
    """
    if status in FAILURES:
        failures += 1
        if status == "rollback_failed":
            return failures, Halt("rollback_failed", f"cluster {name} {status} (its rollback failed: manual attention)")
        if failures > allowed:
            return failures, Halt("budget_exceeded", f"cluster {name} {status} ({failures} failed, budget {budget})")
        return failures, None
    if status == "stopped":
        return failures, Halt("stopped", f"cluster {name} stopped before a step that needs confirmation",
                              stop_running=False)
    return failures, None


@dataclass(frozen=True)
class Ending:
    """How the fleet ends (status, exit code, message); `roll_back` when a rollback decides it instead."""

    status: str = ""
    exit_code: int = EXIT_OK
    message: str = ""
    roll_back: bool = False


def ending(halted: dict | None, stopped_at: str | None, no_rollback: bool, interrupted: bool,
           manual_hint: str = "roll back with `playbook fleet rollback`") -> Ending:
    """The end once the waves are over: succeeded, stopped before an unconfirmed wave, stopped by a cluster,
    halted and left for a person (`no_rollback`, or on_halt.rollback manual), or a rollback to run."""
    if halted is None:
        if stopped_at is not None:
            return Ending("stopped", EXIT_STOPPED, f"stopped before wave {stopped_at}: not confirmed")
        return Ending("succeeded", EXIT_OK)
    if halted.get("reason") == "stopped":
        return Ending("stopped", EXIT_STOPPED, halted.get("message", ""))
    if no_rollback:
        return Ending("halted", EXIT_INTERRUPTED if interrupted else EXIT_FAILED,
                      f"{halted.get('message', '')}; {manual_hint}")
    return Ending(roll_back=True)


def rollback_ending(failed: list[str], halted: dict | None, interrupted: bool) -> Ending:
    """The end after the fleet's rollback: rollback_failed naming the clusters it could not undo, or rolled_back."""
    if failed:
        return Ending("rollback_failed", EXIT_ROLLBACK_FAILED, f"could not roll back {', '.join(failed)}")
    return Ending("rolled_back", EXIT_INTERRUPTED if interrupted else EXIT_FAILED,
                  (halted or {}).get("message", "rollback on request"))
