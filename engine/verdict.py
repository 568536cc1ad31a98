"""How a run ends: its exit code and reason from why it stopped and whether its rollback failed.

Pure, so the local runner and the Temporal workflow (which may import only deterministic code) decide alike.
"""
from __future__ import annotations

from .errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_ROLLBACK_FAILED, EXIT_STOPPED

# Why forward work stopped: None (it did not), "stopped" (a confirmation could not be asked), "failed",
# "interrupted". Failed and interrupted runs roll back unless told not to.
ROLLS_BACK = ("failed", "interrupted")


def run_verdict(stop: str | None, rollback_failed: bool) -> tuple[int, str]:
    """(exit code, reason) of a run that stopped for `stop`."""
    if stop is None:
        return EXIT_OK, "succeeded"
    if stop == "stopped":
        return EXIT_STOPPED, "stopped"
    if rollback_failed:
        return EXIT_ROLLBACK_FAILED, stop
    if stop == "interrupted":
        return EXIT_INTERRUPTED, stop
    return EXIT_FAILED, stop
