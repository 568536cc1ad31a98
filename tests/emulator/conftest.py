"""Fixtures for the emulator tests: emulators on small clusters, the real kubectl, the kubernetes client."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any, Callable

import pytest
from kubernetes import client, config

from engine.emulator import Emulator

KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(
    KUBECTL is None, reason="the real kubectl binary is not on PATH; these tests drive the emulator with it")

# Istio on "default" and one injected namespace with one deployment: enough for most behaviours.
SMALL = {
    "readiness_delay": 0.1,
    "istio": [{"revision": "default", "version": "1.19.3", "gateway": False}],
    "namespaces": [{"name": "apps", "labels": {"istio-injection": "enabled"},
                    "deployments": [{"name": "web", "replicas": 2, "maxSurge": 1, "maxUnavailable": 0}]}],
}


@pytest.fixture
def make_emulator(tmp_path) -> Callable[..., Emulator]:
    """Start emulators (stopped at teardown); arguments as ``Emulator(...)``, but no cluster means SMALL."""
    started: list[Emulator] = []

    def make(cluster: Any = None, **kwargs: Any) -> Emulator:
        kwargs.setdefault("state_dir", tmp_path / f"emu{len(started)}")
        emu = Emulator(SMALL if cluster is None else cluster, **kwargs).start()
        started.append(emu)
        return emu
    yield make
    for emu in started:
        emu.stop()


def kubectl(emu: Emulator, *args: str, check: bool = True, timeout: float = 30,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the real kubectl against ``emu``; ``check`` asserts exit code 0 and shows stderr if not."""
    proc = subprocess.run([KUBECTL or "kubectl", *args], env={**os.environ, **emu.env()}, capture_output=True,
                          text=True, timeout=timeout, input=stdin)
    if check:
        assert proc.returncode == 0, f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return proc


def api_client(emu: Emulator) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(emu.kubeconfig))


def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll until ``predicate()`` is truthy; returns its value or fails with the last one."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value:
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s (last value {value!r})")
        time.sleep(interval)
        value = predicate()
    return value
