"""Watch windows under load: a window's closing bookmark never passes a change the watcher was not sent.

A client that follows windows (list once, then watch from each window's last resourceVersion, as `wait` does)
must see every change. The emulator's event loop is busy under a large upgrade: a window's time may run out
while changes wait in its queue, and those must still be sent before the bookmark that moves the client on.
"""
from __future__ import annotations

import json
import threading
import time

from kubernetes import client

from .conftest import api_client, wait_until


def _configmap(name: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "apps"},
            "data": {"v": value}}


def _window(core: client.CoreV1Api, rv: str, into: list) -> None:
    """One raw watch window of one second on the apps namespace's ConfigMaps, every line kept."""
    resp = core.list_namespaced_config_map("apps", watch=True, resource_version=rv, timeout_seconds=1,
                                           allow_watch_bookmarks=True, _preload_content=False,
                                           _request_timeout=30)
    into.extend(json.loads(line) for line in resp.read().decode().splitlines() if line.strip())


def _changes_while_the_loop_is_busy(rt, names: list[str], busy: float) -> None:
    """Make every change in one go, then keep the loop busy past the window's end (as a large burst does)."""
    for name in names:
        rt.create_object(_configmap(name, "1"))
    time.sleep(busy)


def test_a_window_that_ends_while_changes_wait_sends_them_before_its_bookmark(make_emulator):
    emu = make_emulator()
    core = client.CoreV1Api(api_client(emu))
    rv = core.list_namespaced_config_map("apps").metadata.resource_version
    lines: list = []
    reader = threading.Thread(target=_window, args=(core, rv, lines))
    reader.start()
    wait_until(lambda: emu.call(lambda rt: len(rt.watches)) == 1)
    names = [f"burst-{i}" for i in range(30)]
    emu.call(lambda rt: _changes_while_the_loop_is_busy(rt, names, busy=1.5))
    reader.join(timeout=30)

    assert [e["type"] for e in lines] == ["ADDED"] * len(names) + ["BOOKMARK"]
    assert [e["object"]["metadata"]["name"] for e in lines[:-1]] == names
    last_change = int(lines[-2]["object"]["metadata"]["resourceVersion"])
    assert int(lines[-1]["object"]["metadata"]["resourceVersion"]) >= last_change


def test_many_watchers_following_windows_through_bursts_each_see_every_change(make_emulator):
    """Twenty clients each follow one-second windows by their bookmarks while bursts of changes land, some of
    them while the loop is too busy to write: every client ends with every ConfigMap at its last value."""
    emu = make_emulator()
    core = client.CoreV1Api(api_client(emu))
    start_rv = core.list_namespaced_config_map("apps").metadata.resource_version
    names = [f"cm-{i}" for i in range(40)]
    stop = threading.Event()
    seen: list[dict[str, str]] = [{} for _ in range(20)]
    errors: list[BaseException] = []

    def follow(view: dict[str, str]) -> None:
        own = client.CoreV1Api(api_client(emu))  # a connection each, as separate processes have
        try:
            rv = start_rv
            while not stop.is_set():
                lines: list = []
                _window(own, rv, lines)
                for event in lines:
                    rv = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] in ("ADDED", "MODIFIED"):
                        view[event["object"]["metadata"]["name"]] = event["object"]["data"]["v"]
        except BaseException as exc:  # noqa: BLE001 — reported by the test below
            errors.append(exc)

    followers = [threading.Thread(target=follow, args=(view,)) for view in seen]
    for t in followers:
        t.start()
    wait_until(lambda: emu.call(lambda rt: len(rt.watches)) == len(followers))

    def burst(rt, value: str, busy: float) -> None:
        rtype = rt.api.registry.by_key("configmaps")
        for name in names:
            if rt.api.find(rtype, "apps", name) is None:
                rt.create_object(_configmap(name, value))
            else:
                rt.api.replace(rtype, "apps", name, _configmap(name, value))
        time.sleep(busy)

    # The last burst keeps the loop busy past every open window's end: its changes wait in the queues.
    for round_, busy in enumerate((0.0, 0.3, 1.2)):
        emu.call(lambda rt: burst(rt, str(round_), busy))
        time.sleep(0.4)
    final = {name: "2" for name in names}
    try:
        wait_until(lambda: all(view == final for view in seen), timeout=20)
    finally:
        stop.set()
        for t in followers:
            t.join(timeout=30)
    assert errors == []
