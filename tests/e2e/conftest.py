"""Hooks and fixtures of the end-to-end tests; the harness itself is in e2e_harness.py."""
from __future__ import annotations

from pathlib import Path

import pytest

from e2e_harness import KUBECTL
from engine.emulator import Emulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "large: the upgrade on a larger generated cluster (still run in CI)")


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    if KUBECTL is None:
        skip = pytest.mark.skip(reason="no kubectl on PATH: the end-to-end runs drive the real kubectl binary")
        for item in items:
            if "e2e" in item.nodeid:
                item.add_marker(skip)


@pytest.fixture
def emulator_factory(tmp_path: Path):
    """Start emulators for a test (stopped at its end): factory(cluster=None, faults=None, readiness_delay=...)."""
    started: list[Emulator] = []

    def start(cluster=None, faults=None, readiness_delay: float = 0.05) -> Emulator:
        emu = Emulator(cluster=cluster, faults=faults, readiness_delay=readiness_delay,
                       state_dir=tmp_path / f"emulator-{len(started)}")
        emu.start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture
def prometheus_for(tmp_path: Path):
    """Start a real Prometheus on loopback scraping an emulator's /metrics every second; returns its URL."""
    import socket
    import subprocess
    import time
    import urllib.request
    from urllib.parse import urlparse

    procs: list[subprocess.Popen] = []

    def start(emu: Emulator) -> str:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        target = urlparse(emu.url).netloc
        config = tmp_path / "prometheus.yml"
        config.write_text("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                          "scrape_configs:\n"
                          f"  - {{job_name: emulator, metrics_path: /metrics, static_configs: [{{targets: ['{target}']}}]}}\n")
        proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url + "/-/ready", timeout=1).read()
                return url
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready in 20s")

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
