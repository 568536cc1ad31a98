"""Step results and the `steps.<id>` view templates see (ids resolve within the step's own group copy first)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Iterator

from .graph import Frame
from .api import Outcome
from .events import StepStatus

PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED, ROLLED_BACK, NOT_RUN = (
    StepStatus.PENDING, StepStatus.RUNNING, StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED,
    StepStatus.ROLLED_BACK, StepStatus.NOT_RUN)


@dataclass
class StepResult:
    """Everything known about one leaf step in this run."""

    key: str
    status: str = PENDING
    outcome: Outcome | None = None
    args: dict | None = None  # rendered arguments of the last attempt
    started: float | None = None
    ended: float | None = None
    attempts: int = 0
    reason: str = ""  # why skipped / failed, one line
    rollback: str | None = None  # None (no action) | succeeded | failed
    rollback_message: str = ""

    @property
    def duration(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return self.ended - self.started

    def view(self) -> dict[str, Any]:
        """What `steps.<id>` gives a template."""
        o = self.outcome
        data = {"status": self.status, "rc": o.rc if o else None, "stdout": o.stdout if o else "",
                "stderr": o.stderr if o else "", "json": o.json if o else None, "duration": self.duration,
                "message": o.message if o else self.reason, "attempts": self.attempts}
        if o:
            for k, v in o.outputs.items():
                data.setdefault(k, v)
        return data


def aggregate_status(statuses: list[str]) -> str:
    """One status for a group or for_each: failed beats running beats pending beats succeeded beats skipped."""
    for status in (FAILED, RUNNING, PENDING, NOT_RUN, ROLLED_BACK, SUCCEEDED):
        if status in statuses:
            return status
    return SKIPPED


class StepsView(Mapping):
    """`steps` as seen from one frame: its own siblings first, then outer ones."""

    def __init__(self, frame: Frame, results: Mapping[str, StepResult]) -> None:
        self._frame = frame
        self._results = results

    def _resolve(self, key: str) -> Any:
        frame: Frame | None = self._frame
        while frame is not None:
            entries = frame.ids.get(key)
            if entries is not None:
                return self._entry_view(entries)
            frame = frame.parent
        raise KeyError(key)

    def _entry_view(self, entries: list[Any]) -> Any:
        views = [self._copy_view(e) for e in entries]
        if len(views) == 1 and not isinstance(entries[0], Frame) and not self._looped(entries[0]):
            return views[0]
        return {"status": aggregate_status([v["status"] for v in views]), "items": views}

    def _looped(self, key: str) -> bool:
        return key.endswith("]")

    def _copy_view(self, entry: Any) -> dict[str, Any]:
        if isinstance(entry, Frame):
            inner = {sid: self._entry_view_in(entry, sid) for sid in entry.ids}
            return {"status": aggregate_status([v["status"] for v in inner.values()]),
                    "item": entry.locals.get("item"), "steps": inner}
        return self._results[entry].view()

    def _entry_view_in(self, frame: Frame, sid: str) -> Any:
        return StepsView(frame, self._results)._resolve(sid)

    def __getitem__(self, key: str) -> Any:
        return self._resolve(key)

    def __iter__(self) -> Iterator[str]:
        names: dict[str, None] = {}
        frame: Frame | None = self._frame
        while frame is not None:
            names.update(dict.fromkeys(frame.ids))
            frame = frame.parent
        return iter(names)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class RunSummary:
    """How a run ended."""

    exit_code: int
    reason: str  # succeeded | failed | interrupted | stopped
    results: dict[str, StepResult] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    rollback_failed: list[str] = field(default_factory=list)
    rolled_back: list[str] = field(default_factory=list)
