"""The journal tests' helpers (a forked CLI, reading events, ./runs as the journal) serve these tests too."""
from journal.conftest import RUNS, events, fork_cli, line_count, lines, only_run, runs_env  # noqa: F401
