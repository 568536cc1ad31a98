"""`wait` against a busy API server: every change is seen by many waits at once, and no wait outlasts its
timeout when the server is slow to answer."""
from __future__ import annotations

import threading
import time
from pathlib import Path

from engine.kube import Kube, target_for, watch_until
from engine.plugins.base import StepContext
from engine.plugins.wait import WaitPlugin, judge_jsonpath

from .conftest import options_for


def _configmap(name: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"},
            "data": {"v": value}}


def test_many_waits_at_once_each_see_the_last_change_of_a_burst(emu):
    """Twenty waits on as many ConfigMaps, each on its own connection; one burst changes every ConfigMap twice
    while the emulator's loop stays busy past the waits' watch windows (as under a large upgrade): every wait
    is done."""
    names = [f"flag-{i}" for i in range(20)]
    emu.call(lambda rt: [rt.create_object(_configmap(n, "old")) for n in names])
    results: dict[str, tuple[str, str]] = {}

    def wait_for(name: str) -> None:
        kube = Kube(target_for(options_for(emu)))
        try:
            results[name] = watch_until(kube, "configmap", "apps",
                                        judge_jsonpath(f"configmap/{name}", "{.data.v}", "new"),
                                        deadline=time.time() + 40, cancel=threading.Event(),
                                        progress=lambda line: None, field_selector=f"metadata.name={name}")
        finally:
            kube.close()

    waiters = [threading.Thread(target=wait_for, args=(n,)) for n in names]
    for t in waiters:
        t.start()
    deadline = time.time() + 20
    while emu.call(lambda rt: len(rt.watches)) < len(names) and time.time() < deadline:
        time.sleep(0.05)

    def burst(rt) -> None:
        rtype = rt.api.registry.by_key("configmaps")
        for value in ("almost", "new"):  # two changes each: the last one is what the waits are for
            for n in names:
                rt.api.replace(rtype, "apps", n, _configmap(n, value))
        time.sleep(2.5)  # longer than a wait's watch window (2 s)
    emu.call(burst)
    for t in waiters:
        t.join(timeout=60)

    assert results == {n: ("done", f"configmap/{n} {{.data.v}} = 'new'") for n in names}


def test_a_wait_on_a_server_that_does_not_answer_ends_at_its_timeout(emu):
    """Every request for ConfigMaps hangs for a minute: the wait still says it timed out after its 3 s."""
    emu.set_faults({"api_errors": [{"path": "/configmaps", "latency_ms": 60000}]})
    context = StepContext(key="w", timeout=None, cancel=threading.Event(), run_dir=Path("."),
                          options=options_for(emu))
    started = time.time()
    outcome = WaitPlugin().run({"exists": "configmap/never", "namespace": "apps", "timeout": "3s"}, context)
    took = time.time() - started
    assert outcome.timed_out and outcome.message == "timed out after 3.00s: nothing seen yet"
    assert took < 3 + 4 + 3, f"the wait took {took:.1f}s"  # its timeout, LATE_GRACE, a busy machine
