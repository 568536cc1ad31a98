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
# Collections inside collections: real playbooks and manifests stay far below; deeper ones only exhaust the
# recursion of whatever walks them later (schema checks, rendering, JSON).
MAX_DEPTH = 100


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
        def __init__(self, stream: Any) -> None:
            self._tags: dict[str, str] = {}
            super().__init__(stream)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            # A plain scalar's tag depends on its text alone: resolve each distinct text once (large
            # playbooks repeat the same keys and words thousands of times; each resolve runs regexes).
            if kind is yaml.ScalarNode and implicit[0]:
                resolvers = self.yaml_implicit_resolvers
                if value and value[0] not in resolvers and None not in resolvers and not self.yaml_path_resolvers:
                    return self.DEFAULT_SCALAR_TAG  # what the base class finds: no resolver for that start
                tag = self._tags.get(value)
                if tag is None:
                    tag = self._tags[value] = super().resolve(kind, value, implicit)
                return tag
            return super().resolve(kind, value, implicit)


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


class _NotPlain(Exception):
    """The document needs PyYAML's own constructor (a merge key, a set, an unusual tag...)."""


_MAP, _SEQ, _STR, _MERGE = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:str",
                            "tag:yaml.org,2002:merge")
_SCALARS = {f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "binary", "timestamp")}


def _construct_plain(loader: Any, root: yaml.Node) -> tuple[Any, int]:
    """What the safe constructor (with _construct_map) builds, and its number of nodes, for a document without
    anchors (so no node is shared or recursive) of plain mappings, sequences and scalars: ~3x faster on large
    playbooks, which are mostly strings. Anything else raises _NotPlain and goes the usual way."""
    constructors = loader.yaml_constructors
    scalar = yaml.ScalarNode
    count = 0

    def build(node: yaml.Node, depth: int = 0) -> Any:
        nonlocal count
        count += 1
        if depth > MAX_DEPTH:
            raise _TooDeep(node.start_mark.line + 1)
        depth += 1
        tag = node.tag
        if isinstance(node, scalar):
            if tag == _STR:
                return node.value
            if tag in _SCALARS:
                return constructors[tag](loader, node)
        elif isinstance(node, yaml.SequenceNode):
            if tag == _SEQ:
                items = []
                for child in node.value:
                    if child.__class__ is scalar and child.tag == _STR:  # most leaves: no call for them
                        count += 1
                        items.append(child.value)
                    else:
                        items.append(build(child, depth))
                return items
        elif tag == _MAP:
            data = LineMap()
            data.line = node.start_mark.line + 1
            data.key_lines = lines = {}
            seen: dict = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, scalar) or key_node.tag == _MERGE:
                    raise _NotPlain
                raw = key_node.value
                line = key_node.start_mark.line + 1
                if raw in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key '{raw}' (first on line {seen[raw]})", key_node.start_mark)
                seen[raw] = line
                if key_node.tag == _STR:
                    count += 1
                    key = raw
                else:
                    key = build(key_node, depth)
                if value_node.__class__ is scalar and value_node.tag == _STR:
                    count += 1
                    data[key] = value_node.value
                else:
                    data[key] = build(value_node, depth)
                lines[key] = line
            return data
        raise _NotPlain

    return build(root), count


def _expanded_size(node: yaml.Node, memo: dict[int, int], active: set[int], depth: int = 0) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise LoadError("recursive alias: a node contains itself")
    if depth > MAX_DEPTH:
        raise _TooDeep(node.start_mark.line + 1)
    active.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, memo, active, depth + 1) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, memo, active, depth + 1) + _expanded_size(v, memo, active, depth + 1)
                    for k, v in node.value)
    active.discard(key)
    memo[key] = size
    return size


class _TooDeep(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


def _control_character(text: str) -> tuple[int, int, str] | None:
    """(line, column, character) of the first character YAML refuses in a file (NUL, ESC and the like)."""
    for line_no, line in enumerate(text.split("\n"), 1):
        for col, ch in enumerate(line, 1):
            code = ord(ch)
            if (code < 0x20 and ch not in "\t\r") or 0x7F <= code <= 0x9F and code != 0x85 or code in (0xFFFE, 0xFFFF):
                return line_no, col, ch
    return None


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


def _check_size(size: int, node: yaml.Node, source: str) -> None:
    if size > MAX_EXPANDED_NODES:
        raise LoadError(
            f"aliases expand to {size} nodes, more than the {MAX_EXPANDED_NODES} allowed",
            file=source, line=node.start_mark.line + 1,
            hint="a YAML alias bomb? write the values out instead of nesting aliases")


def _load(loader_class: type, text: str, source: str) -> Any:
    loader = None
    try:
        loader = loader_class(text)  # the pure-Python reader refuses control characters here
        node = loader.get_single_node()
        if node is None:
            return None
        if "&" not in text:  # no anchor, so no alias: the tree is walked once, counted as it is built
            try:
                data, size = _construct_plain(loader, node)
            except _NotPlain:
                pass
            else:
                _check_size(size, node, source)
                return data
        _check_size(_expanded_size(node, {}, set()), node, source)
        return loader.construct_document(node)
    except _TooDeep as err:
        raise LoadError(f"collections nest more than {MAX_DEPTH} deep", file=source, line=err.line,
                        hint="flatten the structure") from None
    except LoadError as err:
        if err.problems and err.problems[0].file is None:
            raise LoadError(err.problems[0].message, file=source) from None
        raise
    except yaml.reader.ReaderError:
        found = _control_character(text)
        if found is None:
            raise LoadError("invalid YAML: a character YAML does not allow", file=source) from None
        line, col, ch = found
        raise LoadError(f"control character U+{ord(ch):04X} at column {col}: YAML files cannot hold it",
                        file=source, line=line,
                        hint="remove it" if ch == "\0" or ord(ch) > 0xFF else
                        f"if it is meant, write it as an escape (\\x{ord(ch):02x}) in a double-quoted string") from None
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
        if loader is not None:
            loader.dispose()


def read_text_bounded(path: str | Path, limit: int = MAX_BYTES) -> str:
    """The UTF-8 text of `path`, reading at most `limit` bytes from any kind of file (/dev/zero, a pipe...).

    Raises LoadError when there is more, or it cannot be read; never reads without bound.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise IsADirectoryError
        chunks: list[bytes] = []
        total = 0
        with open(path, "rb") as fh:
            while total <= limit:
                chunk = fh.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        if total > limit:
            raise LoadError(f"more than the {limit} bytes allowed", file=str(path), hint="is it the file you meant?")
        return b"".join(chunks).decode("utf-8")
    except FileNotFoundError:
        raise LoadError("no such file", file=str(path)) from None
    except IsADirectoryError:
        raise LoadError("is a directory, not a file", file=str(path)) from None
    except UnicodeDecodeError as err:
        raise LoadError(f"not UTF-8 text ({err.reason})", file=str(path)) from None
    except OSError as err:
        raise LoadError(f"cannot read: {err.strerror}", file=str(path)) from None


def load_yaml_file(path: str | Path) -> Any:
    """Read (at most MAX_BYTES of) a YAML file and parse it."""
    return load_yaml_text(read_text_bounded(path), str(path))
