"""The journal tests' helpers (a forked CLI, reading events, ./runs as the journal) serve these tests too."""
from journal.conftest import (RUNS, events, fork_cli, kill_after_events, line_count, lines, only_run,  # noqa: F401
                              pty_output, runs_env)
