"""Reading YAML safely: size and alias-expansion bounds, duplicate keys refused, line numbers kept.

Every mapping comes back as a `LineMap` (a dict) that knows its own line and the line of each key,
so later stages can say `file:line` for any value.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import LoadError

MAX_BYTES = 4 * 1024 * 1024
# Nodes after aliases are expanded; a "billion laughs" file passes the size bound but not this one.
MAX_EXPANDED_NODES = 500_000


class LineMap(dict):
    """A dict that remembers the line of itself and of each of its keys (1-based)."""

    line: int = 0
    key_lines: dict

    def line_of(self, key: object) -> int:
        return self.key_lines.get(key, self.line) if hasattr(self, "key_lines") else self.line


class _Loader(yaml.SafeLoader):
    pass


# libyaml (when PyYAML was built with it) parses large playbooks ~10x faster. It builds the same nodes with
# the same marks; any error is reported by re-reading with the pure-Python loader so messages never change.
_FastLoader: type | None = None
if getattr(yaml, "__with_libyaml__", False):
    class _FastLoader(yaml.CSafeLoader):  # type: ignore[no-redef]
        pass


def _construct_map(loader: _Loader, node: yaml.MappingNode):
    data = LineMap()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data
    seen: dict = {}
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key '{key_node.value}' (first on line {seen[key_node.value]})",
                    key_node.start_mark)
            seen[key_node.value] = key_node.start_mark.line + 1
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            data.key_lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
if _FastLoader is not None:
    _FastLoader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int]) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise LoadError("recursive alias: a node contains itself")
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, active) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo, active) + _expanded_size(v, memo, active) for k, v in node.value)
    active.discard(key)
    memo[key] = size
    return size


def load_yaml_text(text: str, source: str) -> Any:
    """Parse one YAML document with the bounds above; errors carry `source:line`."""
    if len(text) > MAX_BYTES:
        raise LoadError(f"file is {len(text)} bytes, more than the {MAX_BYTES} allowed", file=source)
    if _FastLoader is not None:
        try:
            return _load(_FastLoader, text, source)
        except (LoadError, RecursionError):
            pass  # the pure-Python loader below says what is wrong, in its own words
    return _load(_Loader, text, source)


def _load(loader_class: type, text: str, source: str) -> Any:
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {}, set())
        if size > MAX_EXPANDED_NODES:
            raise LoadError(
                f"aliases expand to {size} nodes, more than the {MAX_EXPANDED_NODES} allowed",
                file=source, line=node.start_mark.line + 1,
                hint="a YAML alias bomb? write the values out instead of nesting aliases")
        return loader.construct_document(node)
    except LoadError as err:
        if err.problems and err.problems[0].file is None:
            raise LoadError(err.problems[0].message, file=source) from None
        raise
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        msg = " ".join(x for x in (err.context, err.problem) if x)
        raise LoadError(f"invalid YAML: {msg}", file=source, line=line) from None
    except yaml.YAMLError as err:
        raise LoadError(f"invalid YAML: {err}", file=source) from None
    except RecursionError:
        raise LoadError("YAML nesting is too deep", file=source) from None
    finally:
        loader.dispose()


def load_yaml_file(path: str | Path) -> Any:
    """Read and parse a YAML file, refusing oversized ones before reading them whole."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise LoadError(f"file is {size} bytes, more than the {MAX_BYTES} allowed", file=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LoadError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise LoadError("is a directory, not a playbook file", file=str(path)) from None
    except UnicodeDecodeError as err:
        raise LoadError(f"not UTF-8 text ({err.reason})", file=str(path)) from None
    except OSError as err:
        raise LoadError(f"cannot read: {err.strerror}", file=str(path)) from None
    return load_yaml_text(text, str(path))
