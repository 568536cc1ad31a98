"""Fault injection: what the cluster file's ``faults:`` block, ``Emulator(faults=...)``, ``set_faults`` and
``PUT /emulator/v1/faults`` configure, and the questions controllers and the server ask of it.

Shape (every key optional)::

    istiod_never_ready: ["1-20-0"]              # revisions whose istiod pods never become Ready
    stuck_rollouts: [{namespace: ns, deployment: app}]   # pods created from now on never become Ready
                                                         # (or statefulset:, daemonset:, rollout: NAME)
    command_failures: [{tool: istioctl, args: [x, precheck], exit_code: 1, stderr: "..."}]  # stand-ins
    stale_proxies: [{namespace: ns, types: [EDS]}]   # stand-in ``istioctl proxy-status`` shows them STALE
    api_errors: [{path: REGEX, method: PATCH, status: 500, after: 0, times: 3}]   # or timeout: true,
                                                                                  # or latency_ms: N
    latency_ms: 0                               # added to every API call
    metrics: {error_rate: {"1-20-0": 0.2}, p99_ms: {"1-20-0": 900}}
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

KNOWN_KEYS = {"istiod_never_ready", "stuck_rollouts", "command_failures", "stale_proxies", "api_errors",
              "latency_ms", "metrics"}
FAULTS_CONFIGMAP = ("kube-system", "playbook-emulator-faults")
# The workload a stuck_rollouts entry names: {namespace: ns, statefulset: db} and so on.
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset", "rollout")


class FaultError(ValueError):
    """A fault block that cannot be understood; the message says which key and why."""


@dataclass(frozen=True)
class ApiFault:
    """What to do to one API request: wait ``latency_s``, then answer ``status`` or hang ``timeout_s``."""

    latency_s: float = 0.0
    status: int | None = None
    timeout_s: float | None = None
    message: str = ""


def validate_faults(faults: Any) -> dict:
    """Check a fault block's shape; returns a normalised copy."""
    if faults is None:
        return {}
    if not isinstance(faults, dict):
        raise FaultError("faults must be a mapping")
    unknown = set(faults) - KNOWN_KEYS
    if unknown:
        raise FaultError(f"unknown fault key(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN_KEYS))}")
    out = copy.deepcopy(faults)
    if not isinstance(out.get("istiod_never_ready", []), list):
        raise FaultError("faults.istiod_never_ready must be a list of revisions")
    out["istiod_never_ready"] = [str(r) for r in out.get("istiod_never_ready", [])]
    for i, s in enumerate(out.setdefault("stuck_rollouts", [])):
        if not isinstance(s, dict) or not any(s.get(k) for k in WORKLOAD_KINDS):
            raise FaultError(f"faults.stuck_rollouts[{i}] needs namespace and one of {', '.join(WORKLOAD_KINDS)}")
        s.setdefault("namespace", "default")
    for i, e in enumerate(out.setdefault("api_errors", [])):
        if not isinstance(e, dict) or "path" not in e:
            raise FaultError(f"faults.api_errors[{i}] needs a path (a regular expression)")
        try:
            re.compile(e["path"])
        except re.error as exc:
            raise FaultError(f"faults.api_errors[{i}].path: {exc}") from None
        if not (e.get("status") or e.get("timeout") or e.get("latency_ms")):
            e["status"] = 500
    try:
        out["latency_ms"] = float(out.get("latency_ms") or 0)
    except (TypeError, ValueError):
        raise FaultError(f"faults.latency_ms must be a number of milliseconds, not {out['latency_ms']!r}") from None
    metrics = out.setdefault("metrics", {})
    if not isinstance(metrics, dict) or set(metrics) - {"error_rate", "p99_ms"}:
        raise FaultError("faults.metrics takes error_rate and p99_ms, each a mapping of revision to value")
    for key in ("command_failures", "stale_proxies"):
        if not isinstance(out.setdefault(key, []), list) or not all(isinstance(e, dict) for e in out[key]):
            raise FaultError(f"faults.{key} must be a list of mappings")
    return out


class Faults:
    """The live fault configuration with its per-rule hit counters (for ``after``/``times``)."""

    def __init__(self, faults: dict | None = None) -> None:
        self.config: dict = {}
        self._hits: list[int] = []
        self.set(faults or {})

    def set(self, faults: dict | None) -> None:
        self.config = validate_faults(faults)
        self._hits = [0] * len(self.config.get("api_errors", []))

    def public(self) -> dict:
        """The configuration as given back to clients (and mirrored into the faults ConfigMap)."""
        return {k: v for k, v in self.config.items() if v not in ([], {}, 0.0, None)}

    def for_request(self, method: str, path: str) -> ApiFault | None:
        """The fault, if any, for one request; counts the hit of the rule that matched."""
        latency = self.config.get("latency_ms", 0.0) / 1000.0
        for i, rule in enumerate(self.config.get("api_errors", [])):
            if rule.get("method") and rule["method"].upper() != method.upper():
                continue
            if not re.search(rule["path"], path):
                continue
            self._hits[i] += 1
            nth = self._hits[i]
            after, times = int(rule.get("after", 0)), rule.get("times")
            if nth <= after or (times is not None and nth > after + int(times)):
                continue
            latency += float(rule.get("latency_ms", 0)) / 1000.0
            if rule.get("timeout"):
                return ApiFault(latency, 504, float(rule.get("timeout_seconds", 30)),
                                rule.get("message", "the server was unable to return a response in the time "
                                                    "allotted, but may still be processing the request"))
            if rule.get("status"):
                return ApiFault(latency, int(rule["status"]), None,
                                rule.get("message", "emulated fault: internal error"))
        return ApiFault(latency) if latency else None

    def istiod_never_ready(self, revision: str) -> bool:
        return revision in self.config.get("istiod_never_ready", [])

    def rollout_stuck(self, namespace: str, name: str, kind: str = "deployment") -> bool:
        return any(s["namespace"] == namespace and s.get(kind) == name
                   for s in self.config.get("stuck_rollouts", []))

    def error_rate(self, revision: str) -> float:
        return float((self.config.get("metrics", {}).get("error_rate") or {}).get(revision, 0.0))

    def p99_ms(self, revision: str) -> float | None:
        value = (self.config.get("metrics", {}).get("p99_ms") or {}).get(revision)
        return None if value is None else float(value)
