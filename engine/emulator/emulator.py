"""The emulator's public Python API: start an emulated cluster on a background thread of this process,
point clients at it (kubeconfig, env), change its faults live, read its downtime report, save its state.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from .cluster import ClusterSpec, load_cluster
from .kubeconfig import write_kubeconfig
from .runtime import Runtime

T = TypeVar("T")
_STANDINS = ("istioctl", "helm")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class Emulator:
    """An emulated Kubernetes cluster with Istio behaviour, served on 127.0.0.1 over plain HTTP."""

    def __init__(self, cluster: str | Path | dict | ClusterSpec | None = None, faults: dict | None = None,
                 state_dir: str | Path | None = None, readiness_delay: float | None = None) -> None:
        self._spec = cluster if isinstance(cluster, ClusterSpec) else load_cluster(cluster)
        self._faults = faults
        self._readiness_delay = readiness_delay
        self._own_dir = state_dir is None
        self.state_dir = Path(state_dir) if state_dir else Path(tempfile.mkdtemp(prefix="playbook-emulator-"))
        self.kubeconfig = self.state_dir / "kubeconfig"
        self.bin_dir = self.state_dir / "bin"
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runtime: Runtime | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> "Emulator":
        """Load the cluster and listen on a free port; returns once clients can connect."""
        if self._thread is not None:
            return self
        ready: concurrent.futures.Future[str] = concurrent.futures.Future()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="playbook-emulator", daemon=True)
        self._thread.start()
        self.url = ready.result(timeout=60)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        write_kubeconfig(self.kubeconfig, self.url)
        self._write_standins()
        return self

    def _serve(self, ready: "concurrent.futures.Future[str]") -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            self._runtime = Runtime(self._spec, faults=self._faults, readiness_delay=self._readiness_delay)
            url = loop.run_until_complete(self._runtime.start())
        except BaseException as exc:  # hand start-up failures to the caller of start()
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(url)
        loop.run_forever()
        loop.run_until_complete(self._runtime.stop())
        # Requests still in flight (a hanging timeout fault, an open watch) end with the emulator.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    def stop(self) -> None:
        """Stop serving; the state directory is removed if the emulator made it."""
        if self._loop is None or self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        if self._own_dir:
            shutil.rmtree(self.state_dir, ignore_errors=True)

    def __enter__(self) -> "Emulator":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the emulator's loop thread (the only thread that touches its state)."""
        if self._loop is None or self._runtime is None:
            raise RuntimeError("the emulator is not running; call start() first")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)
        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=30)

    # -- clients -----------------------------------------------------------------------------------------
    def _write_standins(self) -> None:
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        for tool in _STANDINS:
            path = self.bin_dir / tool
            path.write_text(f"#!{sys.executable}\n"
                            f"# The playbook emulator's stand-in {tool}; see docs/emulator.md.\n"
                            f"import sys\nsys.path.insert(0, {str(_PACKAGE_ROOT)!r})\n"
                            f"from engine.emulator.standins.{tool} import main\n"
                            f"sys.exit(main(sys.argv[1:]))\n")
            path.chmod(0o755)

    def env(self) -> dict[str, str]:
        """The variables that point kubectl, the kubernetes client and the stand-ins at this emulator."""
        return {"KUBECONFIG": str(self.kubeconfig),
                "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "PLAYBOOK_EMULATOR_URL": self.url,
                # kubectl caches discovery per host:port; every emulator has a new port, so keep the cache
                # with the emulator's state rather than growing ~/.kube/cache with each run.
                "KUBECACHEDIR": str(self.state_dir / "kube-cache")}

    @property
    def refused(self) -> list[str]:
        """Objects of a loaded dump the API refused (each ``Kind namespace/name: why``); they are not in the copy."""
        return list(self._spec.refused)

    # -- live control and inspection ---------------------------------------------------------------------
    def set_faults(self, faults: dict) -> None:
        """Replace the fault configuration now (a ValueError names what is wrong with it)."""
        self._call(lambda: self._runtime.set_faults(faults))

    @property
    def faults(self) -> dict:
        return self._call(lambda: self._runtime.faults.public())

    def downtime_report(self) -> dict[str, list[dict]]:
        """``{"namespace/deployment": [{"start": t, "end": t or None}, ...]}`` (epoch seconds)."""
        return self._call(lambda: self._runtime.monitor.report())

    def format_downtime_report(self) -> str:
        return self._call(lambda: self._runtime.monitor.format())

    def state(self) -> dict:
        """Every object, as a ``v1 List``."""
        return self._call(lambda: self._runtime.state())

    def save_state(self, path: str | Path) -> Path:
        """Write every object as YAML (a ``v1 List`` a cluster file can load again)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.state(), sort_keys=False))
        return path

    def call(self, fn: Callable[[Runtime], T]) -> T:
        """Run ``fn(runtime)`` on the emulator thread: an escape hatch for tests and benchmarks."""
        return self._call(lambda: fn(self._runtime))
