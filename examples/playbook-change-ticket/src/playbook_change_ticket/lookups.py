"""`ticket_state(api, id)`: a template look-up giving a change ticket's state (e.g. for a `when:` guard)."""
from __future__ import annotations

import os
from typing import Callable

from engine.api import PlaybookError, RunOptions

from .client import TicketError, call


def ticket_state(options: RunOptions) -> Callable[..., str]:
    """The look-up's factory: called once per run with the run's options."""
    env = {**os.environ, **options.env}

    def lookup(api: str, ticket: str, token_env: str | None = None) -> str:
        """The state of change ticket `ticket` (open, approved, cancelled...)."""
        try:
            answer = call(api, "GET", f"/changes/{ticket}", token=env.get(token_env) if token_env else None)
        except TicketError as err:
            raise PlaybookError(f"ticket_state: {err}") from None
        return str((answer or {}).get("state", "unknown"))
    return lookup
