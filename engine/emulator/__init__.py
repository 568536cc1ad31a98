"""The embedded cluster emulator: a local Kubernetes API with Istio behaviour (see docs/emulator.md).

Public surface: :class:`Emulator`, :func:`load_cluster`, and the Istio object model in ``istio_objects``.
"""
from .cluster import ClusterFileError, load_cluster
from .emulator import Emulator
from .faults import FaultError

__all__ = ["Emulator", "load_cluster", "ClusterFileError", "FaultError"]
