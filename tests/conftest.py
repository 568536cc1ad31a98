"""Fixtures shared by all tests: write a playbook into a temp dir and run the real `playbook` CLI on it."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CliResult:
    rc: int
    out: str
    err: str


class Project:
    """A temp directory holding playbooks; `run` invokes the CLI as a real subprocess there."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    def path(self, name: str) -> Path:
        return self.root / name

    def popen(self, *args: str, **kwargs) -> subprocess.Popen:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **kwargs.pop("env", {})}
        return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=self.root, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)

    def run(self, *args: str, timeout: float = 60, env: dict | None = None) -> CliResult:
        proc = self.popen(*args, env=env or {}, stdin=subprocess.DEVNULL)
        out, err = proc.communicate(timeout=timeout)
        return CliResult(proc.returncode, out, err)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def process_alive():
    """Whether a pid is a live (not zombie) process: for tests that a child did not outlive its step."""
    return _process_alive
