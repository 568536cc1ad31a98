"""The plan as people and tools read it: the dry-run listing and `graph` in text, Mermaid, DOT and JSON.

Values known only at run time render as placeholders such as `<steps.backup.stdout>`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import PlaybookError
from .graph import Node
from .api import RunOptions
from .invoke import Invoker
from .prepare import Prepared
from .render import Placeholder
from .reporter import format_inputs, plural


@dataclass
class NodeView:
    """One step as planned: what it will run, when, and how it is undone."""

    key: str
    uses: str
    title: str
    action: str
    when: str | None
    confirm: str | None
    rollback: str | None
    needs: list[str]
    continue_on_error: bool


def _fmt_guard(prepared: Prepared, expr: object, scope) -> str:
    value = prepared.renderer.evaluate(expr, scope) if isinstance(expr, str) else expr
    if isinstance(value, Placeholder):
        return f"{expr}  (decided at run time)"
    return f"{expr}  (now: {'true' if value else 'false'})"


def node_view(prepared: Prepared, node: Node, options: RunOptions) -> NodeView:
    """Render one node for a plan, with placeholders for run-time values."""
    spec = node.spec
    scope = prepared.scope(steps=Placeholder("steps"), locals=node.locals)
    plugin = prepared.plugins.get(spec.uses or "")
    invoker = Invoker(prepared.renderer, options, run_dir=None, mask=prepared.inputs.mask)
    args = None
    try:
        args = invoker.render_args(plugin, spec.args, scope, check=False)
        action = invoker.describe(plugin, args, node.key)
    except (PlaybookError, TypeError, ValueError) as err:
        action = f"<cannot describe yet: {err}>"
    guards = [f.group.when for f in node.frame.chain() if f.group is not None and f.group.when is not None]
    if spec.when is not None:
        guards.append(spec.when)
    when = "; ".join(_fmt_guard(prepared, g, scope) for g in guards) or None
    # Each group's prompt is rendered with its own copy's `item` (an inner for_each shadows it); empty asks nothing.
    confirms = [str(prepared.renderer.render(f.group.confirm, prepared.scope(steps=Placeholder("steps"),
                                                                             locals=f.locals))).strip()
                for f in node.frame.chain() if f.group is not None and f.group.confirm]
    confirms += [str(prepared.renderer.render(spec.confirm, scope)).strip()] if spec.confirm else []
    confirm = "; ".join(c for c in confirms if c) or None
    rollback = None
    if spec.rollback is not None:
        rb_plugin = prepared.plugins.get(spec.rollback.uses)
        try:
            rollback = invoker.describe(rb_plugin, invoker.render_args(rb_plugin, spec.rollback.args, scope,
                                                                       check=False), node.key)
        except (PlaybookError, TypeError, ValueError) as err:
            rollback = f"<cannot describe yet: {err}>"
    elif args is not None:
        try:
            rollback = invoker.describe_undo(plugin, args, None, node.key)
        except (PlaybookError, TypeError, ValueError, NameError):
            rollback = None
    title = spec.name or spec.id
    if spec.name and "{" in spec.name:
        title = str(prepared.renderer.render(spec.name, scope))
    mask = prepared.inputs.mask
    return NodeView(key=mask(node.key), uses=spec.uses or "", title=mask(title), action=mask(action),
                    when=mask(when) if when else None, confirm=mask(confirm) if confirm else None,
                    rollback=mask(rollback) if rollback else None,
                    needs=[mask(k) for k in sorted(prepared.plan.graph.predecessors(node.key),
                                                   key=lambda k: prepared.plan.nodes[k].order)],
                    continue_on_error=node.continue_on_error)


def _varying_vars(prepared: Prepared) -> frozenset[str]:
    """The vars whose value can differ from step to step: they read `steps`, `item`, a template file or such a
    var."""
    renderer, var_templates = prepared.renderer, prepared.playbook.vars
    varying: set[str] = set()
    grew = True
    while grew:
        more = {n for n, value in var_templates.items()
                if n not in varying and renderer.reads_per_step(value, frozenset(varying))}
        varying |= more
        grew = bool(more)
    return frozenset(varying)


def _render_once_where_fixed(prepared: Prepared) -> None:
    prepared.renderer.remember_fixed(_varying_vars(prepared))


def dry_run_text(prepared: Prepared, max_parallel: int) -> str:
    """The plan in execution order: waves of steps that may run together, each fully rendered."""
    _render_once_where_fixed(prepared)
    pb = prepared.playbook
    waves = prepared.plan.waves()
    total = sum(len(w) for w in waves)
    lines = [f"Plan for {pb.name} ({pb.path}) — dry run, nothing is executed",
             f"{plural(total, 'step')} in {plural(len(waves), 'wave')}; up to {max_parallel} run at once"]
    inputs = format_inputs(prepared.inputs.values, prepared.inputs.secrets)
    if inputs:
        lines.append(f"inputs: {inputs}")
    for number, wave in enumerate(waves, 1):
        lines.append("")
        lines.append(f"Wave {number}" + (f" ({len(wave)} steps in parallel)" if len(wave) > 1 else ""))
        for node in wave:
            v = node_view(prepared, node, prepared.options)
            lines.append(f"  ▶ {v.key}  [{v.uses}]" + (f"  — {v.title}" if v.title != node.spec.id else ""))
            for i, line in enumerate(v.action.splitlines() or [""]):
                lines.append(("      " if i == 0 else "        ") + line)
            if v.needs:
                lines.append(f"      needs: {', '.join(v.needs)}")
            if v.when:
                lines.append(f"      when: {v.when}")
            if v.confirm:
                lines.append(f"      confirm: {v.confirm}")
            if v.rollback:
                lines.append(f"      rollback: {v.rollback}")
            if v.continue_on_error:
                lines.append("      continue_on_error: true")
    if prepared.renderer.rendered_files:
        lines.append("")
        lines.append("Rendered templates (for review):")
        lines += [f"  {p}" for p in prepared.renderer.rendered_files]
    return prepared.inputs.mask("\n".join(lines))


# -- graph exports -----------------------------------------------------------------------------------

def _views(prepared: Prepared) -> list[NodeView]:
    _render_once_where_fixed(prepared)
    return [node_view(prepared, n, prepared.options) for n in prepared.plan.ordered()]


def _groups(prepared: Prepared) -> dict[str, list[str]]:
    """Group-copy label -> keys of the leaves directly or indirectly inside it."""
    out: dict[str, list[str]] = {}
    for node in prepared.plan.ordered():
        for frame in node.frame.chain():
            if frame.group is not None:
                out.setdefault(frame.label, []).append(node.key)
    return out


def graph_text(prepared: Prepared) -> str:
    lines = []
    for number, wave in enumerate(prepared.plan.waves(), 1):
        lines.append(f"wave {number}:")
        for node in wave:
            preds = sorted(prepared.plan.graph.predecessors(node.key))
            lines.append(f"  {node.key} [{node.spec.uses}]" + (f" <- {', '.join(preds)}" if preds else ""))
    return prepared.inputs.mask("\n".join(lines))


def _mermaid_id(key: str, ids: dict[str, str]) -> str:
    return ids.setdefault(key, f"n{len(ids)}")


def _mermaid_label(text: str) -> str:
    return text.replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")


def _rendered(prepared: Prepared, text: str | None, locals: dict) -> str:
    """A step or group name (or prompt) as the plan shows it: rendered for its copy, placeholders where unknown."""
    if not text or "{" not in text:
        return text or ""
    try:
        return str(prepared.renderer.render(text, prepared.scope(steps=Placeholder("steps"), locals=locals)))
    except PlaybookError:
        return text


def graph_mermaid(prepared: Prepared) -> str:
    """A Mermaid flowchart: each step a box (id and plugin), each group copy a subgraph, guards as diamonds' notes."""
    ids: dict[str, str] = {}

    def masked_label(text: str) -> str:  # masked before escaping, or an escaped `"` would hide a secret from the mask
        return _mermaid_label(prepared.inputs.mask(text))

    lines = ["flowchart TD"]
    plan = prepared.plan
    by_frame: dict[int, list[Node]] = {}
    frames = {}
    for node in plan.ordered():
        by_frame.setdefault(id(node.frame), []).append(node)
        frames[id(node.frame)] = node.frame

    def box(node: Node) -> str:
        spec = node.spec
        label = (f"{masked_label(_rendered(prepared, spec.name, node.locals) or spec.id)}"
                 f"<br/><small>{masked_label(spec.uses or '')}</small>")
        if spec.when is not None:
            label += f"<br/><small>when: {masked_label(str(spec.when))}</small>"
        shape = ("{{", "}}") if spec.confirm else (("([", "])") if spec.uses in ("wait", "pause", "approve")
                                                     else ("[", "]"))
        return f'{_mermaid_id(node.key, ids)}{shape[0]}"{label}"{shape[1]}'

    # Nest subgraphs by frame chain.
    tree: dict = {}
    for fid, frame in frames.items():
        cursor = tree
        for f in frame.chain():
            if f.group is None:
                continue
            cursor = cursor.setdefault(f.label, {"__frame__": f})
        cursor.setdefault("__nodes__", []).extend(by_frame[fid])

    def emit(subtree: dict, indent: str) -> None:
        for node in subtree.get("__nodes__", []):
            lines.append(indent + box(node))
        for label, child in subtree.items():
            if label.startswith("__"):
                continue
            frame = child["__frame__"]
            name = _rendered(prepared, frame.group.name, frame.locals)
            title = label + (f" — {name}" if name else "")
            if frame.group.confirm and _rendered(prepared, frame.group.confirm, frame.locals).strip():
                title += " (asks first)"
            lines.append(f'{indent}subgraph {_mermaid_id("group:" + label, ids)}["{masked_label(title)}"]')
            emit(child, indent + "  ")
            lines.append(f"{indent}end")

    emit(tree, "  ")
    for a, b in plan.graph.edges():
        lines.append(f"  {_mermaid_id(a, ids)} --> {_mermaid_id(b, ids)}")
    for node in plan.ordered():
        if node.spec.rollback is not None:
            lines.append(f"  class {_mermaid_id(node.key, ids)} undoable")
    lines.append("  classDef undoable stroke-dasharray: 4 2")
    return prepared.inputs.mask("\n".join(lines))


def graph_dot(prepared: Prepared) -> str:
    lines = ["digraph playbook {", "  rankdir=TB;", "  node [shape=box, fontname=\"Helvetica\"];"]
    groups = _groups(prepared)
    for i, (label, keys) in enumerate(groups.items()):
        lines.append(f"  subgraph cluster_{i} {{ label={json.dumps(label)}; " +
                     " ".join(json.dumps(k) + ";" for k in keys) + " }")
    for node in prepared.plan.ordered():
        label = f"{node.key}\\n{node.spec.uses}"
        lines.append(f"  {json.dumps(node.key)} [label=\"{label}\"];")
    for a, b in prepared.plan.graph.edges():
        lines.append(f"  {json.dumps(a)} -> {json.dumps(b)};")
    lines.append("}")
    return prepared.inputs.mask("\n".join(lines))


def graph_json(prepared: Prepared) -> str:
    waves = [[n.key for n in wave] for wave in prepared.plan.waves()]
    nodes = [{"key": v.key, "uses": v.uses, "title": v.title, "action": v.action, "when": v.when,
              "confirm": v.confirm, "rollback": v.rollback, "needs": v.needs} for v in _views(prepared)]
    return prepared.inputs.mask(json.dumps({"name": prepared.playbook.name, "waves": prepared.inputs.mask_data(waves),
                                            "nodes": nodes}, indent=2, default=str))


FORMATS = {"text": graph_text, "mermaid": graph_mermaid, "dot": graph_dot, "json": graph_json}
