"""The fast YAML reader gives exactly what PyYAML's CSafeLoader gives, for what kubectl writes and for the
YAML it does not (those go to PyYAML itself)."""
from __future__ import annotations

import pytest
import yaml

from engine.emulator import fastyaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@pytest.mark.parametrize("text", [
    "a: 1\nb: '1'\nc: yes\nd: ~\ne: 1.5\nf: 2026-01-01\ng: 0x1F\nh: [1, '2', {x: null}]\ni: .inf\nj: 1_000\n",
    "x: &a {k: v}\ny: *a\n",                       # aliases share the value
    "a: !!str 5\nb: !!int '7'\n",                    # explicit tags
    "m: &b {k: 1}\nn:\n  <<: *b\n  j: 2\n",          # merge keys
    "---\na: 1\n---\n---\nb: 2\n",                   # several documents, one empty
    "[a, b]\n", "? a\n: 1\n", "k: |\n  multi\n  line\nl: >\n  folded\n  text\n",
    "apiVersion: v1\nkind: List\nitems:\n- metadata:\n    name: x\n    labels:\n      app: \"on\"\n  spec:\n"
    "    replicas: 3\n    paused: false\n    ports:\n    - 80\n    - name: http\n      port: 8080\n",
    "creationTimestamp: 2026-11-20T09:00:00Z\nquoted: \"2026-11-20T09:00:00Z\"\nempty:\nnull_value: null\n",
    "",
])
def test_same_values_as_pyyaml(text):
    assert fastyaml.load_all(text) == list(yaml.load_all(text, Loader=_LOADER))


def test_aliases_are_the_same_object_as_pyyaml_makes_them():
    doc = fastyaml.load_all("x: &a {k: v}\ny: *a\n")[0]
    assert doc["x"] is doc["y"]


def test_invalid_yaml_raises_pyyamls_error():
    with pytest.raises(yaml.YAMLError):
        fastyaml.load_all("a: [1, 2\n")
    with pytest.raises(yaml.YAMLError):
        fastyaml.load_all("a: *missing\n")
    with pytest.raises(yaml.YAMLError):  # a collection as a key: PyYAML refuses it too
        fastyaml.load_all("? [a]\n: 1\n")


def test_a_realistic_dump_reads_the_same(real_dump):
    from engine.emulator.dump import strip_managed_fields
    text = strip_managed_fields(real_dump.read_text())
    assert fastyaml.load_all(text) == list(yaml.load_all(text, Loader=_LOADER))
