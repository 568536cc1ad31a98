"""Every installed step plugin's `with` schema is a valid JSON Schema (2020-12).

The engine skips this metaschema check at run time for the plugins shipped in this package (it costs
~40 ms a schema in every process), so this test is where a broken built-in schema is caught.
"""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from engine.plugins.registry import PluginRegistry

REGISTRY = PluginRegistry()


@pytest.mark.parametrize("name", REGISTRY.names())
def test_plugin_schema_is_a_valid_json_schema(name):
    Draft202012Validator.check_schema(REGISTRY.get(name).schema)
