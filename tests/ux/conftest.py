"""The README's main job, run once for the tests that read its output and its report."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class MainJob:
    rc: int
    out: str
    err: str
    runs_dir: Path

    @property
    def run_dir(self) -> Path:
        return next(p for p in self.runs_dir.iterdir() if p.is_dir())


def readme_main_job() -> list[str]:
    """The `playbook run ...` command of the README's main job, as argv after `playbook`."""
    text = (ROOT / "README.md").read_text()
    line = re.search(r"^python3 -m venv .* && (playbook run .*)$", text, re.M)
    assert line, "the README's main job command was not found"
    return shlex.split(line.group(1))[1:]


@pytest.fixture(scope="session")
def main_job(tmp_path_factory) -> MainJob:
    """`playbook run ...` exactly as the README gives it (from a scratch directory, journal in it)."""
    work = tmp_path_factory.mktemp("main-job")
    argv = [a if not a.startswith("playbooks/") else str(ROOT / a) for a in readme_main_job()]
    env = {**os.environ, "PLAYBOOK_RUNS_DIR": str(work / "runs"), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run([sys.executable, "-m", "engine.cli", *argv], cwd=work, env=env, capture_output=True,
                          text=True, timeout=600, stdin=subprocess.DEVNULL)
    return MainJob(done.returncode, done.stdout, done.stderr, work / "runs")
