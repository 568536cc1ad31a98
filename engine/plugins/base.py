"""The step contract as it was first published here; it now lives in `engine.api` (import it from there).

Kept so plugins written against `engine.plugins.base` keep working; nothing in the engine imports it.
"""
from __future__ import annotations

from ..api import Outcome, RunOptions, StepContext, StepPlugin, shell_line, to_arg

__all__ = ["Outcome", "RunOptions", "StepContext", "StepPlugin", "shell_line", "to_arg"]
