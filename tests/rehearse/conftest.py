"""Fixtures of the snapshot, dump and rehearsal tests: a realistic production-cluster dump, emulators."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from engine.emulator import Emulator

sys.path.insert(0, str(Path(__file__).parent))
from realistic_dump import write_realistic_dump  # noqa: E402

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="the real kubectl binary is not on PATH")


@pytest.fixture(scope="session")
def real_dump(tmp_path_factory) -> Path:
    """A `kubectl get -A -o yaml`-like dump of a 12-namespace production cluster (about 500 objects)."""
    return write_realistic_dump(tmp_path_factory.mktemp("dump") / "cluster.yaml")


@pytest.fixture
def make_emulator(tmp_path) -> Callable[..., Emulator]:
    """Start emulators (stopped at teardown) with ``Emulator(...)``'s arguments."""
    started: list[Emulator] = []

    def make(cluster: Any = None, **kwargs: Any) -> Emulator:
        kwargs.setdefault("state_dir", tmp_path / f"emu{len(started)}")
        kwargs.setdefault("readiness_delay", 0.05)
        emu = Emulator(cluster, **kwargs).start()
        started.append(emu)
        return emu
    yield make
    for emu in started:
        emu.stop()


def kubectl(emu: Emulator, *args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """The real kubectl against ``emu``; asserts success and shows stderr if not."""
    proc = subprocess.run([KUBECTL or "kubectl", *args], env={**os.environ, **emu.env()}, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc
