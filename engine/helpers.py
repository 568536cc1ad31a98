"""Template look-ups beyond Jinja's own: the registry of names templates may call, built-in and from plugins.

`template_file` and `template` are part of the renderer. The cluster look-ups (`pods`, `namespaces`,
`k8s_get`, `revisions`, and those of `lookups_workloads`) are built in and connect lazily. A plugin package adds
look-ups through the `playbook.lookups` entry-point group (`engine.api.Lookup`): each is a factory called
once per run with the run's options. A look-up whose package is broken fails when a template calls it,
with a message naming it; the others keep working.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterator

from . import lookups_workloads
from .api import LOOKUP_GROUP, RunOptions
from .errors import TemplateError
from .istio_views import Named, namespace_view, pod_view, revision_views
from .kube import lazy_kube
from .render import Placeholder

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

RENDERER_NAMES = frozenset({"template_file", "template"})
CLUSTER_LOOKUPS = ("pods", "namespaces", "k8s_get", "revisions") + tuple(sorted(lookups_workloads.HELPER_NAMES))
# The built-in look-ups that ask the cluster (the others are arithmetic): `validate` plans them as placeholders.
CLUSTER_BOUND = frozenset({"pods", "namespaces", "k8s_get", "revisions", "workloads_to_move", "planned_moves",
                           "disruption_blockers", "rollout_restarted", "rollout_restart_refs", "pod_to_evict",
                           "cluster_free_capacity"})


def cluster_lookups(options: RunOptions) -> dict[str, Callable[..., Any]]:
    """`pods`, `namespaces`, `k8s_get`, `revisions` for one run; they connect on first use."""
    kube = lazy_kube(options)

    def pods(namespace: str | None = None, selector: Any = None) -> list[dict]:
        """Pods of a namespace (all namespaces when None), optionally by label selector."""
        items, _ = kube().list("pod", namespace, selector)
        return sorted((pod_view(p) for p in items), key=lambda p: (p["namespace"] or "", p["name"] or ""))

    def namespaces(selector: Any = None) -> list[Named]:
        """Namespace names (with .labels, .revision, .injection), optionally by label selector."""
        items, _ = kube().list("namespace", None, selector)
        return sorted(namespace_view(n) for n in items)

    def k8s_get(kind: str, name: str, namespace: str | None = None) -> dict | None:
        """One object as `kubectl get -o json` prints it, or None when it does not exist."""
        return kube().find(kind, name, namespace)

    def revisions() -> list[Named]:
        """Istio control-plane revisions in the cluster (with .version, .ready, .tags)."""
        return revision_views(kube())

    return {"pods": pods, "namespaces": namespaces, "k8s_get": k8s_get, "revisions": revisions}


class Lookups:
    """The look-up names templates may use, and their functions for one run."""

    def __init__(self, points: list[EntryPoint] | None = None) -> None:
        self._given = points
        self._found: dict[str, EntryPoint] | None = None

    @property
    def _points(self) -> dict[str, EntryPoint]:
        # Read on first need: importlib.metadata and the scan of every installed distribution cost each
        # start-up 10-30 ms, and most playbooks use only the built-in look-ups.
        if self._found is None:
            found = self._given
            if found is None:
                from importlib.metadata import entry_points
                found = entry_points(group=LOOKUP_GROUP)
            # A built-in name cannot be taken over by a package: templates keep meaning what the docs say.
            self._found = {ep.name: ep for ep in found if ep.name not in CLUSTER_LOOKUPS + tuple(RENDERER_NAMES)}
        return self._found

    def names(self) -> frozenset[str]:
        """Every name a template may call besides inputs and vars (what `validate` checks against)."""
        return RENDERER_NAMES | frozenset(CLUSTER_LOOKUPS) | frozenset(self._points)

    def knows(self, name: str) -> bool:
        """Whether templates may call `name` (the entry points are read only for a name not built in)."""
        return name in RENDERER_NAMES or name in CLUSTER_LOOKUPS or name in self._points

    def for_run(self, options: RunOptions, *, cluster: bool = True) -> Mapping[str, Callable[..., Any]]:
        """The look-up functions of one run (the renderer adds `template` and `template_file`).

        With `cluster=False` (validate) the built-in look-ups that ask the cluster give placeholders: what they
        return is known only at run time, and checking a file should neither need a cluster nor load its client."""
        return _RunLookups(self, options, cluster)


class _RunLookups(Mapping):
    """One run's look-ups: the built-in ones at once, the plugins' ones on the first name not built in."""

    def __init__(self, lookups: Lookups, options: RunOptions, cluster: bool = True) -> None:
        self._lookups, self._options = lookups, options
        self._functions = {**cluster_lookups(options), **lookups_workloads.template_helpers(options)}
        if not cluster:
            self._functions.update({name: _at_run_time(name) for name in CLUSTER_BOUND})
        self._complete = False

    def _all(self) -> dict[str, Callable[..., Any]]:
        if not self._complete:
            for name, point in self._lookups._points.items():
                self._functions[name] = _loaded(name, point, self._options)
            self._complete = True
        return self._functions

    def __getitem__(self, name: str) -> Callable[..., Any]:
        if name in self._functions:
            return self._functions[name]
        return self._all()[name]

    def __contains__(self, name: object) -> bool:
        return name in self._functions or name in self._all()

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __bool__(self) -> bool:  # never empty (the built-in look-ups), and `helpers or {}` must not scan
        return True


def _at_run_time(name: str) -> Callable[..., Placeholder]:
    def lookup(*args: Any, **kwargs: Any) -> Placeholder:
        return Placeholder(name)(*args, **kwargs)  # prints as `<planned_moves('1-20-0', ...)>`
    return lookup


def _loaded(name: str, point: EntryPoint, options: RunOptions) -> Callable[..., Any]:
    try:
        function = point.load()(options)
        if not callable(function):
            raise TypeError(f"its factory returned {type(function).__name__}, not a function")
        return function
    except Exception as err:  # noqa: BLE001 — a third party's broken look-up must not break the others
        reason = f"look-up '{name}' ({point.value}) cannot be loaded: {type(err).__name__}: {err}"

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise TemplateError(reason, hint="a bug in the look-up's package: upgrade or uninstall it")
        return broken
