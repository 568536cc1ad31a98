"""Shipped cluster files (package data: ``demo.yaml``)."""
