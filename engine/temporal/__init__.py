"""Runs held by a Temporal server: the workflow that schedules a prepared plan, the activities that run its
steps and undos through the engine's one invoker, the client that submits and follows a run, and the worker.

Needs the optional extra: `pip install -e '.[temporal]'`. Nothing here is imported by a local run.
"""
