"""Rehearsal of a playbook on an emulated copy of a real cluster: findings, estimates and reports."""
