"""Template helpers beyond Jinja's own: cluster look-ups and the like, provided per run.

`template_file` and `template` are part of the renderer. Cluster look-ups (`pods`, `namespaces`,
`k8s_get`, `revisions`) come from `engine.kube` and connect lazily, on first use.
"""
from __future__ import annotations

from typing import Any, Callable

from .api import RunOptions

# Names templates may use beyond inputs and vars; `validate` checks templates against these.
HELPER_NAMES = frozenset({"template_file", "template", "pods", "namespaces", "k8s_get", "revisions"})


def template_helpers(options: RunOptions) -> dict[str, Callable[..., Any]]:
    """The helper functions for one run."""
    helpers: dict[str, Callable[..., Any]] = {}
    try:
        from . import kube
    except ImportError:  # the cluster seam is optional for playbooks that touch no cluster
        return helpers
    helpers.update(kube.template_helpers(options))
    return helpers
