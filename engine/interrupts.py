"""What Ctrl-C and SIGTERM do to a run: stop new work, then roll back; a second press may abandon the rollback."""
from __future__ import annotations

import signal
import threading
from typing import Any, Callable

from .presentation import Presentation


class Interrupts:
    """First Ctrl-C or SIGTERM: no new steps, running ones terminated, then rollback (unless --no-rollback).

    A second one asks on a terminal whether to abandon the rollback (a third abandons without asking);
    without a terminal, or for SIGTERM, the second one abandons: the rest stays in the journal for
    `playbook rollback`.
    """

    def __init__(self, runner: Any, present: Presentation, run_id: str,
                 ask: Callable[[str], bool] | None = None) -> None:
        self.runner = runner
        self.present = present
        self.run_id = run_id
        self.ask = ask
        self.presses = 0
        self.asking = False

    def handle(self, signum: int, frame: Any = None) -> None:
        self.presses += 1
        name = signal.Signals(signum).name
        if self.presses == 1:
            then = ("leaving the journal for `playbook rollback " + self.run_id + "`" if self.runner.no_rollback
                    else "then rolling back")
            self.present.say(f"\n{name}: no new steps; stopping the running ones, {then}")
            self.runner.interrupt()
            return
        if self.runner.no_rollback:
            return
        if self.asking or self.ask is None or signum != signal.SIGINT:
            self._abandon(name)
            return
        self.asking = True
        threading.Thread(target=self._ask, name="abandon-rollback?", daemon=True).start()

    def _ask(self) -> None:
        try:
            if self.ask(f"Abandon the rollback? What is left stays for `playbook rollback {self.run_id}`"):
                self._abandon("confirmed")
            else:
                self.present.say("rollback continues")
        finally:
            self.asking = False

    def _abandon(self, why: str) -> None:
        self.present.say(f"\n{why}: abandoning the rest of the rollback; finish it later with "
                         f"`playbook rollback {self.run_id}`")
        self.runner.abandon.set()

    def install(self) -> Callable[[], None]:
        """Install the handlers (main thread only); returns a function that restores the previous ones."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}

        def restore() -> None:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return restore


def terminal_ask(prompt: str) -> bool:
    """Ask the person at the terminal a yes/no question (no by default)."""
    import click
    return click.confirm(prompt, default=False, err=True)
