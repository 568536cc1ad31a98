"""A third-party plugin package installed for the test only: a directory on PYTHONPATH holding a module and
a `.dist-info` whose entry points register its plugins, found by `playbook` as any installed package is."""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

# Written against the public API; the fallback lets the same tests show how an older engine behaved.
MODULE = '''
try:
    from engine.api import Outcome, StepPlugin
except ImportError:  # an engine before engine.api
    from engine.plugins.base import Outcome, StepPlugin


class RaisingRun(StepPlugin):
    name = "raising-run"
    summary = "run raises"

    def run(self, args, ctx):
        raise KeyError("missing")


class RaisingDescribe(StepPlugin):
    name = "raising-describe"
    summary = "describe raises"

    def describe(self, args, options):
        raise RuntimeError("cannot say")

    def run(self, args, ctx):
        with open("ran.log", "a") as fh:
            fh.write("raising-describe ran\\n")
        return Outcome(ok=True, message="done")


class RaisingUndo(StepPlugin):
    """Makes something, and its undo (the hook, or the author-written rollback's run) raises KeyError."""

    name = "raising-undo"
    summary = "undo raises"

    def run(self, args, ctx):
        if args.get("as_rollback"):
            raise KeyError("made")
        return Outcome(ok=True, message="made it", outputs={"made": "thing"})

    def describe_undo(self, args, done, options):
        return "remove the thing"

    def undo(self, args, done, ctx):
        raise KeyError(done.outputs["nothing-here"])


class BadSchema(StepPlugin):
    name = "bad-schema"
    summary = "its schema is not a JSON Schema"
    schema = {"type": "objekt"}

    def run(self, args, ctx):
        return Outcome(ok=True)


class Fine(StepPlugin):
    name = "fine"
    summary = "works"

    def run(self, args, ctx):
        return Outcome(ok=True, message="fine")
'''

ENTRY_POINTS = """
[playbook.plugins]
raising-run = trustplug:RaisingRun
raising-describe = trustplug:RaisingDescribe
raising-undo = trustplug:RaisingUndo
bad-schema = trustplug:BadSchema
fine = trustplug:Fine
gone = trustplug_missing_module:Plugin
"""


@pytest.fixture
def plugin_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a `playbook` subprocess that sees the test's plugin package."""
    site = tmp_path / "site"
    info = site / "trustplug-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "trustplug.py").write_text(textwrap.dedent(MODULE), encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: trustplug\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(ENTRY_POINTS.lstrip(), encoding="utf-8")
    path = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path}
