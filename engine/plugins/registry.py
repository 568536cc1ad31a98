"""Finding step plugins through the `playbook.plugins` entry-point group, loading each only when used.

A third-party plugin that cannot be loaded (a missing module, a class that is not a `StepPlugin`, an
invalid `with` schema) is a located error naming it when a playbook uses it, and is listed as broken by
`playbook plugins`; the other plugins keep working.
"""
from __future__ import annotations

import difflib
from importlib.metadata import EntryPoint, entry_points

from jsonschema.exceptions import SchemaError

from ..api import PLUGIN_GROUP, StepPlugin
from ..errors import ValidationError
from ..schema import trust_schema, validator_for

GROUP = PLUGIN_GROUP


class PluginLoadError(ValidationError):
    """A plugin's package is broken: the playbook cannot use it (exit 2, nothing ran)."""


class PluginRegistry:
    """Plugins by name; built-ins and third-party ones come through the same entry points."""

    def __init__(self, extra: dict[str, type[StepPlugin]] | None = None) -> None:
        self._points: dict[str, EntryPoint] = {ep.name: ep for ep in entry_points(group=GROUP)}
        self._loaded: dict[str, StepPlugin] = {}
        self._broken: dict[str, PluginLoadError] = {}
        for name, cls in (extra or {}).items():
            self._loaded[name] = self._checked(name, cls, f"{cls.__module__}:{cls.__qualname__}")

    def names(self) -> list[str]:
        return sorted(set(self._points) | set(self._loaded))

    def __contains__(self, name: str) -> bool:
        return name in self._points or name in self._loaded

    def get(self, name: str) -> StepPlugin:
        """The plugin called `name`; raises ValidationError when unknown or broken (naming it)."""
        plugin = self._loaded.get(name)
        if plugin is not None:
            return plugin
        if name in self._broken:
            raise self._broken[name]
        point = self._points.get(name)
        if point is None:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f"did you mean '{close[0]}'?" if close else "see `playbook plugins`"
            raise ValidationError(f"unknown plugin '{name}'", hint=hint)
        try:
            try:
                cls = point.load()
            except Exception as err:  # noqa: BLE001 — any failure importing a third party's code is theirs
                raise self._error(name, point.value, f"cannot be loaded: {type(err).__name__}: {err}") from None
            plugin = self._checked(name, cls, point.value)
            if point.module.split(".")[0] == __name__.split(".")[0]:  # shipped here: the tests check its schema
                trust_schema(plugin.schema)
        except PluginLoadError as err:
            self._broken[name] = err
            raise
        self._loaded[name] = plugin
        return plugin

    def catalogue(self) -> list[dict]:
        """Every plugin with its summary, `with` schema and example; a broken one with why instead."""
        items = []
        for name in self.names():
            try:
                plugin = self.get(name)
            except PluginLoadError as err:
                items.append({"name": name, "broken": err.problems[0].message})
                continue
            items.append({"name": name, "summary": plugin.summary, "schema": plugin.schema,
                          "example": plugin.example})
        return items

    def _checked(self, name: str, cls: object, source: str) -> StepPlugin:
        if not (isinstance(cls, type) and issubclass(cls, StepPlugin)):
            raise self._error(name, source, "is not a subclass of engine.api.StepPlugin")
        try:
            plugin = cls()
        except Exception as err:  # noqa: BLE001
            raise self._error(name, source, f"cannot be created: {type(err).__name__}: {err}") from None
        if not isinstance(plugin.schema, dict):
            raise self._error(name, source, "declares a `schema` that is not a JSON Schema object")
        if not source.startswith(__name__.split(".")[0] + "."):
            try:
                validator_for(plugin.schema)
            except SchemaError as err:
                where = "/".join(str(p) for p in err.path) or "top level"
                raise self._error(name, source, f"declares an invalid `with` schema ({where}: {err.message})") \
                    from None
        return plugin

    @staticmethod
    def _error(name: str, source: str, reason: str) -> PluginLoadError:
        return PluginLoadError(f"plugin '{name}' ({source}) {reason}",
                               hint="a bug in the plugin's package: upgrade or uninstall it")
