"""Finding step plugins through the `playbook.plugins` entry-point group, loading each only when used."""
from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, entry_points

from ..errors import ValidationError
from .base import StepPlugin

GROUP = "playbook.plugins"


class PluginRegistry:
    """Plugins by name; built-ins and third-party ones come through the same entry points."""

    def __init__(self, extra: dict[str, type[StepPlugin]] | None = None) -> None:
        self._points: dict[str, EntryPoint] = {ep.name: ep for ep in entry_points(group=GROUP)}
        self._loaded: dict[str, StepPlugin] = {}
        for name, cls in (extra or {}).items():
            self._loaded[name] = cls()

    def names(self) -> list[str]:
        return sorted(set(self._points) | set(self._loaded))

    def __contains__(self, name: str) -> bool:
        return name in self._points or name in self._loaded

    def get(self, name: str) -> StepPlugin:
        plugin = self._loaded.get(name)
        if plugin is None:
            point = self._points.get(name)
            if point is None:
                close = difflib.get_close_matches(name, self.names(), n=1)
                hint = f"did you mean '{close[0]}'?" if close else "see `playbook plugins`"
                raise ValidationError(f"unknown plugin '{name}'", hint=hint)
            plugin = point.load()()
            if point.module.split(".")[0] == __name__.split(".")[0]:  # shipped here: the tests check its schema
                from ..schema import trust_schema
                trust_schema(plugin.schema)
            self._loaded[name] = plugin
        return plugin
