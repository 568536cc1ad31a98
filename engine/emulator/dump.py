"""Loading a real cluster's dump: ``kubectl get ... -A -o yaml`` output (a ``v1 List``, a stream of documents,
or a directory of such files) or a ``playbook snapshot``, into the objects an emulated copy starts with.

A dump is what the API server returned, so it carries what only a running cluster has: managedFields,
status, uids, resourceVersions, ownerReferences, and the objects controllers derive (ReplicaSets, pods,
endpoints). Here each object is kept, cleaned, or left to the emulator's controllers to derive again:

- Nodes are kept with their status (allocatable, conditions): the copy schedules onto the real node names.
- Objects a controller of the emulator owns again (a Deployment's ReplicaSets and their pods, the pods of
  StatefulSets, DaemonSets and Jobs, endpoints, endpoint slices, controller revisions, leases, events) are
  left out; the emulator's controllers make them from their owners.
- Everything else is kept with server-set metadata removed (uid, resourceVersion, managedFields, ...) and
  status dropped (CRDs aside): the copy's controllers write status afresh.
- Custom resources and built-in kinds the emulator does not model are kept as they are; the runtime serves
  their kinds generically (see :mod:`.generic`).
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from . import fastyaml

# Derived by a controller or meaningful only in the cluster they came from: never imported.
_DERIVED_KINDS = {"Event", "Endpoints", "EndpointSlice", "ControllerRevision", "Lease", "ComponentStatus",
                  "Binding", "TokenReview", "SelfSubjectAccessReview", "SubjectAccessReview"}
# Owners whose dependents (pods, ReplicaSets) the emulator's controllers create again.
_CONTROLLER_OWNERS = {"ReplicaSet", "Deployment", "StatefulSet", "DaemonSet", "Job"}
_SYSTEM_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
_SERVER_SET = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink",
               "deletionTimestamp", "deletionGracePeriodSeconds")
_DUMP_SUFFIXES = (".yaml", ".yml", ".json")


class DumpError(ValueError):
    """A dump that cannot be read; the message names the file."""


@dataclass
class Dump:
    """A cluster's objects as read from its dump, and what was left out of the copy and why."""

    objects: list[dict] = field(default_factory=list)   # every object of the dump, as dumped
    meta: dict = field(default_factory=dict)             # a snapshot's own metadata (context, time), if any
    sources: list[str] = field(default_factory=list)

    def importable(self) -> tuple[list[dict], list[dict], dict[str, int]]:
        """(node manifests, other manifests to create, counts of objects left out by reason)."""
        nodes: list[dict] = []
        objects: list[dict] = []
        skipped: dict[str, int] = {}
        seen: set[tuple[str, str, str, str]] = set()
        for obj in self.objects:
            reason = _left_out(obj)
            if reason is None:
                meta = obj["metadata"]
                ident = (str(obj.get("apiVersion", "")).rpartition("/")[0], obj["kind"],
                         meta.get("namespace") or "", meta.get("name") or "")
                if ident in seen:
                    reason = "duplicate"
                seen.add(ident)
            if reason is not None:
                skipped[reason] = skipped.get(reason, 0) + 1
                continue
            clean = clean_object(obj)
            (nodes if obj["kind"] == "Node" else objects).append(clean)
        # A dump of some namespaces (``kubectl get ... -n shop -o yaml``) may lack their Namespace objects.
        have = {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"} | _SYSTEM_NAMESPACES
        for ns in sorted({o["metadata"].get("namespace") for o in objects} - have - {None, ""}):
            objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
        return nodes, objects, skipped


def read_dump(source: str | Path) -> Dump:
    """Read a dump: one file (a ``v1 List``, several documents, a snapshot) or a directory of such files."""
    path = Path(source)
    files = sorted(p for p in path.rglob("*") if p.suffix in _DUMP_SUFFIXES and p.is_file()) if path.is_dir() \
        else [path]
    if not files:
        raise DumpError(f"{path}: no .yaml, .yml or .json files in this directory")
    dump = Dump()
    for f in files:
        try:
            text = f.read_text(encoding="utf-8")
        except OSError as exc:
            raise DumpError(f"{f}: cannot read: {exc.strerror}") from None
        docs = parse_documents(text, str(f))
        dump.sources.append(str(f))
        for doc in docs:
            dump.objects += _items(doc, str(f), dump.meta)
    return dump


def parse_documents(text: str, where: str) -> list[Any]:
    """The documents of a dump's text: JSON (``-o json``) or YAML, managedFields skipped unparsed."""
    if text.lstrip().startswith("{"):
        try:
            return [json.loads(text)]
        except ValueError:
            pass  # YAML flow style, perhaps
    try:
        return [d for d in fastyaml.load_all(strip_managed_fields(text)) if d is not None]
    except yaml.YAMLError as exc:
        raise DumpError(f"{where}: not valid YAML: {exc}") from None


def strip_managed_fields(text: str) -> str:
    """Block-style YAML (as kubectl writes it) without its ``managedFields:`` blocks, which the copy drops anyway.

    Often a third of a dump; removing the lines is much cheaper than parsing them. A block ends at the first
    line indented no deeper than its key (a ``- `` item at the key's indent belongs to it, as YAML allows).
    """
    if "managedFields:" not in text:
        return text
    out: list[str] = []
    skip_indent = -1
    for line in text.splitlines(keepends=True):
        if skip_indent >= 0:
            body = line.lstrip(" ")
            indent = len(line) - len(body)
            if not body.strip() or indent > skip_indent or (indent == skip_indent and body.startswith("- ")):
                continue
            skip_indent = -1
        body = line.lstrip(" ")
        if body.startswith("managedFields:") and body[len("managedFields:"):].strip() in ("", "[]"):
            if body[len("managedFields:"):].strip() == "":
                skip_indent = len(line) - len(body)
            continue
        out.append(line)
    return "".join(out)


def objects_of(docs: Iterable[Any], where: str) -> Dump:
    """A dump from documents already parsed (a cluster file that is a ``List`` or a manifest stream)."""
    dump = Dump(sources=[where])
    for doc in docs:
        if doc is not None:
            dump.objects += _items(doc, where, dump.meta)
    return dump


def looks_like_dump(doc: Any) -> bool:
    """Whether a parsed document is a list of objects or one object, rather than a cluster file."""
    return isinstance(doc, dict) and ("apiVersion" in doc and "kind" in doc)


def _items(doc: Any, where: str, meta: dict) -> list[dict]:
    if not isinstance(doc, dict):
        raise DumpError(f"{where}: expected Kubernetes objects, got {type(doc).__name__}")
    kind = str(doc.get("kind", ""))
    if kind == "List" or (kind.endswith("List") and isinstance(doc.get("items"), list)):
        annotations = (doc.get("metadata") or {}).get("annotations") or {}
        meta.update({k.rpartition("/")[2]: v for k, v in annotations.items() if k.startswith("playbook.dev/")})
        out = []
        item_kind = kind[:-4] if kind != "List" else ""
        for i, item in enumerate(doc.get("items") or []):
            if isinstance(item, dict) and item_kind and "kind" not in item:
                # A typed list (``PodList``) may omit each item's kind and apiVersion.
                item = {"kind": item_kind, "apiVersion": doc.get("apiVersion", "v1"), **item}
            out += _items(item, f"{where}: items[{i}]", meta)
        return out
    if not looks_like_dump(doc) or not isinstance(doc.get("metadata"), dict) or not doc["metadata"].get("name"):
        raise DumpError(f"{where}: every entry needs apiVersion, kind and metadata with a name "
                        f"(got {json.dumps(doc, default=str)[:80]})")
    return [doc]


def _left_out(obj: dict) -> str | None:
    """Why an object of the dump is not created in the copy (None: it is)."""
    kind = obj["kind"]
    meta = obj["metadata"]
    if kind in _DERIVED_KINDS:
        return f"{kind} (derived)"
    if kind == "Namespace" and meta.get("name") in _SYSTEM_NAMESPACES:
        return "system namespace (exists)"
    if kind == "Service" and meta.get("namespace") == "default" and meta.get("name") == "kubernetes":
        return "system namespace (exists)"
    owners = [r.get("kind") for r in meta.get("ownerReferences") or [] if r.get("controller")]
    if kind in ("Pod", "ReplicaSet") and any(o in _CONTROLLER_OWNERS for o in owners):
        return f"{kind} (made again by its controller)"
    if kind == "Pod" and (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return "Pod (finished)"
    if kind == "Pod" and meta.get("annotations", {}).get("kubernetes.io/config.mirror"):
        return "Pod (static, node-local)"
    return None


def clean_object(obj: dict) -> dict:
    """An object as a client would create it: server-set metadata and (but for nodes and CRDs) status gone."""
    clean = copy.deepcopy(obj)
    meta = clean["metadata"]
    for k in _SERVER_SET:
        meta.pop(k, None)
    if meta.get("name"):
        meta.pop("generateName", None)
    annotations = meta.get("annotations") or {}
    for k in ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"):
        annotations.pop(k, None)
    if obj["kind"] not in ("Node", "CustomResourceDefinition"):
        clean.pop("status", None)
    if obj["kind"] == "Service":
        spec = clean.get("spec") or {}
        for k in ("clusterIP", "clusterIPs"):
            if spec.get("clusterIP") != "None":
                spec.pop(k, None)
        for p in spec.get("ports") or []:
            if spec.get("type") not in ("NodePort", "LoadBalancer"):
                p.pop("nodePort", None)
    if obj["kind"] == "Pod":
        clean.get("spec", {}).pop("nodeName", None)
    if obj["kind"] == "Node":
        for cond in (clean.get("status") or {}).get("conditions") or []:
            cond.pop("lastHeartbeatTime", None)
    return clean
