"""Findings of a rehearsal: the catalogue of stable codes, and one finding (what, which objects, the fix).

Codes never change meaning once released; a new kind of problem gets a new code. Reports, tests and
anyone's automation match on the code, never on the wording.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class Code:
    """One kind of problem a rehearsal can find."""

    code: str
    slug: str
    severity: str
    title: str


CATALOGUE: dict[str, Code] = {c.code: c for c in (
    Code("RH101", "pdb-blocks-restart", ERROR,
         "A PodDisruptionBudget allows no disruption of a workload the change restarts"),
    Code("RH102", "injection-webhook-overlap", ERROR,
         "More than one sidecar-injection webhook selects the same namespace"),
    Code("RH103", "tag-collision", ERROR,
         "The new revision collides with an existing revision or revision tag"),
    Code("RH104", "old-proxies-remain", WARNING,
         "Workloads keep a proxy of another revision after the change"),
    Code("RH105", "injected-namespace-in-no-wave", ERROR,
         "A namespace the old revision injects is in no wave"),
    Code("RH106", "insufficient-capacity", ERROR,
         "The nodes lack the free CPU or memory the change needs"),
    Code("RH107", "step-failed", ERROR,
         "A step of the playbook failed in the rehearsal"),
    Code("RH108", "workload-downtime", ERROR,
         "A workload had no ready replica during the rehearsal"),
)}


@dataclass(frozen=True)
class Finding:
    """One problem: its code, the objects involved (``Kind namespace/name``), what happens, and the fix."""

    code: str
    objects: tuple[str, ...]
    message: str
    fix: str
    seen_in: str = "snapshot"  # snapshot: found in the copied cluster before running | rehearsal: while running
    details: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> Code:
        return CATALOGUE[self.code]

    @property
    def severity(self) -> str:
        return self.kind.severity

    def as_dict(self) -> dict:
        k = self.kind
        return {"code": k.code, "slug": k.slug, "severity": k.severity, "title": k.title,
                "objects": list(self.objects), "message": self.message, "fix": self.fix, "seen_in": self.seen_in,
                **({"details": self.details} if self.details else {})}


def obj_ref(obj: dict) -> str:
    """``Kind namespace/name`` (``Kind name`` when cluster-scoped): how findings name objects."""
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/{meta.get('name', '')}" if meta.get("namespace") else meta.get("name", "")
    return f"{obj.get('kind', '?')} {where}"


def verdict(findings: list[Finding]) -> str:
    """``go`` (nothing found), ``go-with-warnings`` (warnings only) or ``no-go`` (any error)."""
    if any(f.severity == ERROR for f in findings):
        return "no-go"
    return "go-with-warnings" if findings else "go"
