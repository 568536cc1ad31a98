"""The kubeconfig the emulator writes: cluster, user and context all named ``emulator``, plain HTTP."""
from __future__ import annotations

from pathlib import Path

import yaml

NAME = "emulator"


def kubeconfig(server: str, namespace: str = "default") -> dict:
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": NAME, "cluster": {"server": server}}],
        "users": [{"name": NAME, "user": {"token": "emulator"}}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": NAME, "namespace": namespace}}],
        "current-context": NAME,
    }


def write_kubeconfig(path: Path, server: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(kubeconfig(server), sort_keys=False))
    path.chmod(0o600)
    return path
