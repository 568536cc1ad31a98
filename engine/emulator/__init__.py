"""The embedded cluster emulator: a local Kubernetes API with Istio behaviour (see docs/emulator.md).

Public surface: :class:`Emulator`, :func:`load_cluster`, and the Istio object model in ``istio_objects``.
"""
from __future__ import annotations

import importlib
from typing import Any

# Loaded on first use: the istioctl/helm stand-ins import submodules of this package on every invocation
# and must not pay for aiohttp and the server they never use.
_LAZY = {"Emulator": ".emulator", "load_cluster": ".cluster", "ClusterFileError": ".cluster", "FaultError": ".faults"}

__all__ = ["Emulator", "load_cluster", "ClusterFileError", "FaultError"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module, __name__), name)
