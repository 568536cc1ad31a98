"""Run events: the runner emits them; reporters and the journal consume them. Only sinks print or write."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Event:
    """Something that happened in a run: `kind` such as step_started, `key` the step, `data` the details."""

    kind: str
    key: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class Fanout:
    """Sends every event to each sink in order; a sink that raises (a journal that cannot write) stops the run."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def add(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)


class Recorder:
    """Keeps every event; for tests and for the final summary."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def kinds(self, key: str | None = None) -> list[str]:
        return [e.kind for e in self.events if key is None or e.key == key]
