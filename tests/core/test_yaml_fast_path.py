"""The loader's fast path (plain documents without anchors built straight from libyaml's nodes, scalar tags
resolved once per text) gives exactly what PyYAML's own constructor gives, lines included, and the same
errors and limits."""
from __future__ import annotations

import pytest
import yaml

from engine import loader
from engine.errors import LoadError
from engine.loader import LineMap, load_yaml_text

pytestmark = pytest.mark.skipif(loader._FastLoader is None, reason="PyYAML without libyaml")


def _shape(value):
    if isinstance(value, LineMap):
        return ("map", value.line, dict(value.key_lines),
                [(type(k).__name__, k, _shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ["seq"] + [_shape(v) for v in value]
    return (type(value).__name__, value)


def _usual_way(text: str):
    """PyYAML's constructor over the same loader (resolver included), as before the fast path."""
    class Plain(yaml.CSafeLoader):
        pass
    Plain.add_constructor("tag:yaml.org,2002:map", loader._construct_map)
    plain = Plain(text)
    try:
        return plain.get_single_data()
    finally:
        plain.dispose()


DOCUMENTS = [
    "version: 1\nsteps:\n  - id: a\n    uses: command\n    with: {args: [echo, hi]}\n",
    "a: yes\nb: no\nc: on\nd: ~\ne: null\nf: 0x1F\ng: 0o17\nh: 1_000\ni: 1:30\nj: .5\nk: -.inf\nl: .NaN\n",
    "a: 2026-12-01\nb: 2026-12-01T04:00:00Z\nc: !!binary aGk=\nd: '1'\ne: \"true\"\nf: ''\ng:\n",
    "1: one\n'2': quoted\ntrue: t\n~: n\n3.5: f\n",
    "list:\n  - - nested\n    - [1, 2, {x: y}]\n  - {}\n  - []\n",
    "text: |\n  line one\n  line two\nfolded: >\n  a\n  b\n",
    "weird: '&not an anchor'\nstar: '*not an alias'\n",
    "- top\n- level\n- list\n",
    "just a scalar\n",
    "key with spaces: value\n\"quoted key\": 1\n",
    "set: !!set {a, b}\n",  # not plain: the usual way
    "base: &b {x: 1}\nmerged:\n  <<: *b\n  y: 2\n",  # anchors and a merge key: the usual way
    "a: {<<: {x: 1}, y: 2}\n",  # a merge key without anchors: the usual way
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_fast_path_builds_what_pyyaml_builds(text):
    assert _shape(load_yaml_text(text, "f.yaml")) == _shape(_usual_way(text))


@pytest.mark.parametrize("text", [d for d in DOCUMENTS if "&" not in d and "!!set" not in d and "<<" not in d])
def test_the_fast_path_counts_nodes_as_the_alias_check_does(text):
    fast = loader._FastLoader(text)
    try:
        node = fast.get_single_node()
        _, count = loader._construct_plain(fast, node)
        assert count == loader._expanded_size(node, {}, set())
    finally:
        fast.dispose()


@pytest.mark.parametrize("text,message", [
    ("a: 1\nb: 2\na: 3\n", "found duplicate key 'a' (first on line 1)"),
    ("x:\n  k: 1\n  k: 2\n", "found duplicate key 'k' (first on line 2)"),
    ("a: " + "[" * 600 + "]" * 600 + "\n", "YAML nesting is too deep"),
])
def test_errors_and_limits_are_unchanged(text, message):
    with pytest.raises(LoadError) as caught:
        load_yaml_text(text, "f.yaml")
    assert message in str(caught.value)
