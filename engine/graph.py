"""From steps as written to a DAG of runnable leaf steps (networkx).

Checks ids, needs and cycles on the steps as written (so errors name the file's ids and lines), then
expands groups and `for_each` copies into leaves with keys like `migrate[test-namespace].relabel`.
"""
from __future__ import annotations

import difflib
import itertools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import networkx as nx

from .errors import GraphError, Problem
from .model import Playbook, StepSpec


@dataclass(eq=False)
class Frame:
    """One copy of a block of steps: the top level, or one copy of a group."""

    parent: "Frame | None"
    prefix: str  # key prefix of the leaves inside, e.g. "migrate[test-namespace]."
    locals: dict[str, Any]
    group: StepSpec | None = None
    label: str = ""
    ids: dict[str, list[Any]] = field(default_factory=dict)  # local id -> leaf keys or child Frames

    def chain(self) -> list["Frame"]:
        """This frame and its ancestors, outermost first."""
        out, frame = [], self
        while frame is not None:
            out.append(frame)
            frame = frame.parent
        return out[::-1]


@dataclass(eq=False)
class Node:
    """A leaf step ready to run: its spec, the frame it lives in, and its `item` if it is a for_each copy."""

    key: str
    spec: StepSpec
    frame: Frame
    locals: dict[str, Any]
    order: int

    @property
    def continue_on_error(self) -> bool:
        return self.spec.continue_on_error or any(f.group is not None and f.group.continue_on_error
                                                  for f in self.frame.chain())


@dataclass
class Plan:
    """The expanded DAG with deterministic order: ties broken by position in the file."""

    graph: nx.DiGraph
    nodes: dict[str, Node]
    top: Frame

    def waves(self) -> list[list[Node]]:
        """Topological generations, each sorted by file order."""
        return [sorted((self.nodes[k] for k in gen), key=lambda n: n.order)
                for gen in nx.topological_generations(self.graph)]

    def ordered(self) -> list[Node]:
        return [n for wave in self.waves() for n in wave]


def check_structure(playbook: Playbook) -> None:
    """Duplicate ids, unknown needs and cycles, among each set of siblings; all reported at once."""
    problems: list[Problem] = []
    _check_block(playbook.steps, playbook.file, "", problems)
    if problems:
        raise GraphError(problems=problems)


def _check_block(specs: list[StepSpec], file: str, where: str, problems: list[Problem]) -> None:
    seen: dict[str, StepSpec] = {}
    for spec in specs:
        if spec.id in seen:
            problems.append(Problem(f"duplicate step id '{spec.id}'{where} (first on line {seen[spec.id].line})",
                                    file=file, line=spec.line, step=spec.id, hint="give each step its own id"))
        else:
            seen[spec.id] = spec
    edges: list[tuple[str, str]] = []
    for spec in specs:
        for need in spec.needs:
            if need == spec.id:
                problems.append(Problem("a step cannot need itself", file=file, line=spec.line, step=spec.id))
            elif need not in seen:
                close = difflib.get_close_matches(need, list(seen), n=1)
                hint = f"did you mean '{close[0]}'?" if close else (
                    "inside a group, needs name sibling steps; put outer needs on the group" if where else
                    "needs name the ids of other steps")
                problems.append(Problem(f"needs unknown step '{need}'{where}", file=file,
                                        line=spec.raw.line_of("needs") if spec.raw is not None else spec.line,
                                        step=spec.id, hint=hint))
            else:
                edges.append((need, spec.id))
    cycles = []
    if _has_cycle(list(seen), edges):  # rare: only then is a graph built to name the cycles
        sibling_graph = nx.DiGraph()
        sibling_graph.add_nodes_from(spec.id for spec in specs)
        sibling_graph.add_edges_from(edges)
        cycles = sorted(nx.simple_cycles(sibling_graph), key=len)[:5]
    for cycle in cycles:
        if len(cycle) < 2:
            continue
        position = {sid: i for i, sid in enumerate(seen)}
        start = min(range(len(cycle)), key=lambda i: position[cycle[i]])
        cycle = cycle[start:] + cycle[:start]
        first = seen[cycle[0]]
        path = " -> ".join(cycle + [cycle[0]])
        problems.append(Problem(f"needs form a cycle: {path}", file=file, line=first.line, step=first.id,
                                hint="remove one of these needs"))
    for spec in specs:
        if spec.steps:
            _check_block(spec.steps, file, f" in group '{spec.id}'", problems)


def _has_cycle(ids: list[str], edges: list[tuple[str, str]]) -> bool:
    """Whether the edges among `ids` form a cycle (Kahn's algorithm: what is never freed lies on or after one)."""
    waiting = dict.fromkeys(ids, 0)
    after: dict[str, list[str]] = {}
    for a, b in edges:
        waiting[b] += 1
        after.setdefault(a, []).append(b)
    free = [i for i, n in waiting.items() if n == 0]
    done = 0
    while free:
        done += 1
        for b in after.get(free.pop(), ()):
            waiting[b] -= 1
            if waiting[b] == 0:
                free.append(b)
    return done < len(waiting)


_KEY_SAFE = re.compile(r"[^A-Za-z0-9_.:/@=+-]+")


def _item_key(item: Any, index: int) -> str:
    if isinstance(item, (str, int, float)) and not isinstance(item, bool):
        text = _KEY_SAFE.sub("_", str(item))
        return text[:60] or str(index)
    if isinstance(item, dict):
        for name in ("name", "id", "namespace"):
            if isinstance(item.get(name), (str, int)):
                return _item_key(item[name], index)
    return str(index)


class _Builder:
    def __init__(self, expand: Callable[[StepSpec, Frame], list[Any]]) -> None:
        self.expand = expand
        self.nodes: dict[str, Node] = {}
        self.edges: list[tuple[str, str]] = []  # the DAG is built once, in bulk, from these and the nodes
        self.counter = itertools.count()

    def graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_nodes_from(self.nodes)
        graph.add_edges_from(self.edges)
        return graph

    def block(self, specs: list[StepSpec], frame: Frame) -> tuple[list[str], list[str]]:
        entries: dict[str, tuple[list[str], list[str]]] = {}
        for spec in specs:
            copies = self.copies(spec, frame)
            if spec.serial:
                for (_, before), (after, _) in zip(copies, copies[1:]):
                    self.edges.extend((a, b) for a in before for b in after)
                entries[spec.id] = (copies[0][0], copies[-1][1]) if copies else ([], [])
            else:
                entries[spec.id] = ([k for c in copies for k in c[0]], [k for c in copies for k in c[1]])
        needed = set()
        for spec in specs:
            for need in spec.needs:
                needed.add(need)
                self.edges.extend((a, b) for a in entries[need][1] for b in entries[spec.id][0])
        sources = [k for s in specs if not s.needs for k in entries[s.id][0]]
        sinks = [k for s in specs if s.id not in needed for k in entries[s.id][1]]
        return sources, sinks

    def copies(self, spec: StepSpec, frame: Frame) -> list[tuple[list[str], list[str]]]:
        looped = spec.for_each is not None
        items = self.expand(spec, frame) if looped else [None]
        out = []
        used: set[str] = set()
        for index, item in enumerate(items):
            suffix = ""
            if looped:
                key = _item_key(item, index)
                if key in used:
                    key = f"{key}#{index}"
                used.add(key)
                suffix = f"[{key}]"
            local = {**frame.locals, "item": item, "loop_index": index} if looped else dict(frame.locals)
            if spec.is_group:
                sub = Frame(parent=frame, prefix=f"{frame.prefix}{spec.id}{suffix}.", locals=local, group=spec,
                            label=f"{frame.prefix}{spec.id}{suffix}")
                frame.ids.setdefault(spec.id, []).append(sub)
                out.append(self.block(spec.steps or [], sub))
            else:
                key = f"{frame.prefix}{spec.id}{suffix}"
                self.nodes[key] = Node(key=key, spec=spec, frame=frame, locals=local, order=next(self.counter))
                frame.ids.setdefault(spec.id, []).append(key)
                out.append(([key], [key]))
        return out


def build_plan(playbook: Playbook, expand: Callable[[StepSpec, Frame], list[Any]]) -> Plan:
    """Check the structure, then expand groups and for_each (through `expand`) into a leaf DAG."""
    check_structure(playbook)
    top = Frame(parent=None, prefix="", locals={})
    builder = _Builder(expand)
    builder.block(playbook.steps, top)
    return Plan(graph=builder.graph(), nodes=builder.nodes, top=top)
