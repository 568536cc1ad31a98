"""Helpers for journal tests: a CLI in a forked process (cheap to SIGKILL many times), journal reading."""
from __future__ import annotations

import json
import multiprocessing
import os
import pty
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNS = "runs"  # every test journals into <project>/runs


def _cli_child(root: str, args: list[str]) -> None:
    os.chdir(root)
    fd = os.open("cli.out", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", closefd=False)
    sys.stderr = sys.stdout
    from engine.cli import cli
    cli.main(args=args, prog_name="playbook", standalone_mode=True)


def _warm_imports() -> None:
    """Import what a run needs once, in the parent, so forked children start in milliseconds."""
    import importlib
    for name in ("engine.cli", "engine.runs", "engine.runner", "engine.prepare", "engine.progress", "engine.notify",
                 "engine.plugins.shell", "engine.plugins.echo", "engine.kube", "engine.plugins.registry"):
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    from engine.plugins.registry import PluginRegistry
    PluginRegistry()  # reads the entry points (cached by importlib.metadata)


def fork_cli(root: Path, *args: str) -> multiprocessing.Process:
    """`playbook ARGS` in a forked child: the same code path as the real command, without interpreter start-up."""
    _warm_imports()
    proc = multiprocessing.get_context("fork").Process(target=_cli_child, args=(str(root), list(args)))
    proc.start()
    return proc


def events(run_dir: Path) -> list[dict]:
    """The journal's events (a torn last line ignored, as the engine does)."""
    out = []
    for line in (run_dir / "events.jsonl").read_bytes().split(b"\n"):
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def line_count(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except OSError:
        return 0


def only_run(root: Path, timeout: float = 30) -> Path:
    """The one run directory under <root>/runs, waiting for it to appear."""
    deadline = time.monotonic() + timeout
    while True:
        dirs = [p for p in (root / RUNS).glob("*") if (p / "events.jsonl").exists()] if (root / RUNS).exists() else []
        if dirs:
            assert len(dirs) == 1, dirs
            return dirs[0]
        assert time.monotonic() < deadline, "no run directory appeared"
        time.sleep(0.005)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def runs_env(monkeypatch):
    """Point the CLI's default journal directory at ./runs for subprocess runs too."""
    monkeypatch.setenv("PLAYBOOK_RUNS_DIR", RUNS)
    return RUNS


def kill_after_events(proc: multiprocessing.Process, journal: Path, rng: random.Random, most: int,
                      jitter: float = 0.02) -> bool:
    """Let `proc` write 1..most more events (plus up to `jitter` s), then SIGKILL it; False if it ended first."""
    target = line_count(journal) + rng.randint(1, most)
    deadline = time.monotonic() + 60
    while proc.is_alive() and line_count(journal) < target:
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.001)
    time.sleep(rng.uniform(0, jitter))
    if not proc.is_alive():
        proc.join()
        return False
    proc.kill()
    proc.join()
    return True


def pty_output(argv: list[str], cwd: Path, *, stderr_too: bool = False, env: dict | None = None) -> tuple[int, str]:
    """Run `argv` with its stdout (and stderr, if asked) on a pseudo-terminal; (exit code, what it wrote there)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=follower,
                            stderr=follower if stderr_too else subprocess.PIPE,
                            env={**os.environ, "COLUMNS": "100", "LINES": "40", **(env or {})})
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(leader)
    return proc.returncode, b"".join(chunks).decode("utf-8", "replace")
