"""playbook: a declarative workflow engine for zero-downtime changes to a live service mesh."""

__version__ = "0.1.0"
