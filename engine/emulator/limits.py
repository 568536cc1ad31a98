"""The emulator's own limits as a local server: how many replicas one workload may ask for and how many
objects the store may hold, refused with a clear 422 before a flood of requests (or one absurd one) makes
it create pods without end. A real cluster's limits (quotas, etcd size) differ; these keep one process sane.
"""
from __future__ import annotations

from .errors import ApiError, invalid
from .resources import ResourceType

MAX_REPLICAS = 1000
MAX_OBJECTS = 50_000


def check_replicas(rt: ResourceType, obj: dict) -> None:
    """422 for ``spec.replicas`` above :data:`MAX_REPLICAS`."""
    spec = obj.get("spec")
    replicas = spec.get("replicas") if isinstance(spec, dict) else None
    if isinstance(replicas, int) and not isinstance(replicas, bool) and replicas > MAX_REPLICAS:
        raise invalid(rt, (obj.get("metadata") or {}).get("name", ""), [
            ("spec.replicas", "FieldValueInvalid",
             f"Invalid value: {replicas}: must be less than or equal to {MAX_REPLICAS} (the emulator's limit)")])


def check_count(rt: ResourceType, name: str, count: int) -> None:
    """422 when the store already holds :data:`MAX_OBJECTS` objects."""
    if count >= MAX_OBJECTS:
        kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        details: dict = {"name": name}
        if rt.group:
            details["group"] = rt.group
        details["kind"] = rt.kind
        details["causes"] = [{"reason": "FieldValueTooMany", "message": f"the emulator holds at most "
                              f"{MAX_OBJECTS} objects", "field": "metadata.name"}]
        raise ApiError(422, "Invalid", f'{kind} "{name}" is invalid: the emulator holds at most {MAX_OBJECTS} '
                       "objects; delete some first", details)
