"""Shipped cluster files (package data): ``demo.yaml``, and ``mixed.yaml`` (the demo plus every workload kind)."""
from pathlib import Path

DEMO = Path(__file__).parent / "demo.yaml"
MIXED = Path(__file__).parent / "mixed.yaml"
