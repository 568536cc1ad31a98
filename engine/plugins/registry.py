"""Finding step plugins: the built-in ones by name, third-party ones through the `playbook.plugins`
entry-point group; each is imported only when a step uses it.

A third-party plugin that cannot be loaded (a missing module, a class that is not a `StepPlugin`, an
invalid `with` schema) is a located error naming it when a playbook uses it, and is listed as broken by
`playbook plugins`; the other plugins keep working.
"""
from __future__ import annotations

import difflib
import importlib
from typing import Any

from ..api import PLUGIN_GROUP, StepPlugin
from ..errors import ValidationError
from ..schema import trust_schema, validator_for

GROUP = PLUGIN_GROUP

# The plugins shipped here, as pyproject.toml's entry points name them too (a test keeps the two equal).
# Looking them up here spares every start-up importlib.metadata and a scan of every installed distribution
# (~10-30 ms); the entry points are read only for a name not found here, or to list every plugin.
BUILTIN = {
    "command": "engine.plugins.command:CommandPlugin",
    "shell": "engine.plugins.shell:ShellPlugin",
    "assert": "engine.plugins.assert_:AssertPlugin",
    "wait": "engine.plugins.wait:WaitPlugin",
    "echo": "engine.plugins.echo:EchoPlugin",
    "kubectl": "engine.plugins.kubectl:KubectlPlugin",
    "istioctl": "engine.plugins.istioctl:IstioctlPlugin",
    "helm": "engine.plugins.helm:HelmPlugin",
    "http": "engine.plugins.http:HttpPlugin",
    "prometheus": "engine.plugins.prometheus:PrometheusPlugin",
    "pause": "engine.plugins.pause:PausePlugin",
    "approve": "engine.plugins.pause:ApprovePlugin",
}


class PluginLoadError(ValidationError):
    """A plugin's package is broken: the playbook cannot use it (exit 2, nothing ran)."""


class PluginRegistry:
    """Plugins by name; a built-in name is never shadowed by a third-party entry point."""

    def __init__(self, extra: dict[str, type[StepPlugin]] | None = None) -> None:
        self._entry_points: dict[str, Any] | None = None  # name -> EntryPoint, read on first need
        self._loaded: dict[str, StepPlugin] = {}
        self._broken: dict[str, PluginLoadError] = {}
        for name, cls in (extra or {}).items():
            self._loaded[name] = self._checked(name, cls, f"{cls.__module__}:{cls.__qualname__}")

    @property
    def _points(self) -> dict[str, Any]:
        if self._entry_points is None:
            from importlib.metadata import entry_points
            self._entry_points = {ep.name: ep for ep in entry_points(group=GROUP) if ep.name not in BUILTIN}
        return self._entry_points

    def names(self) -> list[str]:
        return sorted(set(BUILTIN) | set(self._points) | set(self._loaded))

    def __contains__(self, name: str) -> bool:
        return name in self._loaded or name in BUILTIN or name in self._points

    def get(self, name: str) -> StepPlugin:
        """The plugin called `name`; raises ValidationError when unknown or broken (naming it)."""
        plugin = self._loaded.get(name)
        if plugin is not None:
            return plugin
        if name in self._broken:
            raise self._broken[name]
        if name in BUILTIN:
            module, _, attr = BUILTIN[name].partition(":")
            plugin = getattr(importlib.import_module(module), attr)()
            trust_schema(plugin.schema)  # shipped here: the tests check its schema against the metaschema
            self._loaded[name] = plugin
            return plugin
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
            from jsonschema.exceptions import SchemaError
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
