"""Fleets: one playbook run across many clusters in waves, halted and rolled back as one change (docs/fleet.md).

model (the fleet file) -> plan (waves, topology) -> orchestrator (clusters in waves, budget, gates, halt,
rollback) over clusterrun (one journaled `playbook run` per cluster), recorded in the fleet journal.
"""
