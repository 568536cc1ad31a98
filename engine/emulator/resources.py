"""The resource types the emulated API serves: built-in kinds plus those CRDs add at run time.

Owned here: names (plural, kind, short names), scope, verbs and discovery categories. The server, the
store and discovery all look types up in one :class:`Registry` per emulator.
"""
from __future__ import annotations

from dataclasses import dataclass, field

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class ResourceType:
    """One served resource: ``group``/``version``/``plural`` and how it is named and scoped."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()  # every served version (CRDs may serve several)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> str:
        """Storage key: one per group/plural, whatever version it is read at."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def qualified(self) -> str:
        """The name errors use: ``deployments.apps`` or ``pods``."""
        return self.key


def _rt(group: str, version: str, plural: str, kind: str, namespaced: bool = True, short: tuple = (),
        cats: tuple = (), subs: tuple = ()) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, tuple(short), tuple(cats), tuple(subs),
                        (version,))


BUILTIN: tuple[ResourceType, ...] = (
    _rt("", "v1", "namespaces", "Namespace", False, ("ns",), (), ("status",)),
    _rt("", "v1", "nodes", "Node", False, ("no",), (), ("status",)),
    _rt("", "v1", "pods", "Pod", True, ("po",), ("all",), ("status", "log", "eviction")),
    _rt("", "v1", "services", "Service", True, ("svc",), ("all",), ("status",)),
    _rt("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    _rt("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    _rt("", "v1", "secrets", "Secret", True),
    _rt("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",)),
    _rt("", "v1", "events", "Event", True, ("ev",)),
    _rt("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",)),
    _rt("", "v1", "limitranges", "LimitRange", True, ("limits",)),
    _rt("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",)),
    _rt("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",), ("status", "scale")),
    _rt("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",), ("status", "scale")),
    _rt("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("all",), ("status", "scale")),
    _rt("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("all",), ("status",)),
    _rt("apps", "v1", "controllerrevisions", "ControllerRevision", True),
    _rt("batch", "v1", "jobs", "Job", True, (), ("all",), ("status",)),
    _rt("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("all",), ("status",)),
    _rt("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), ("all",),
        ("status",)),
    _rt("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), (), ("status",)),
    _rt("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
        False, (), ("api-extensions",)),
    _rt("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration", False, (), ("api-extensions",)),
    _rt("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
        ("crd", "crds"), ("api-extensions",), ("status",)),
    _rt("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
    _rt("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
    _rt("rbac.authorization.k8s.io", "v1", "roles", "Role", True),
    _rt("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True),
    _rt("coordination.k8s.io", "v1", "leases", "Lease", True),
    _rt("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",)),
    _rt("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    # Answered, never stored: every request is allowed (the emulator has no RBAC).
    _rt("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
    _rt("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
    # ``kubectl auth whoami``: kubectl 1.27 asks at v1beta1 (then v1alpha1), later ones at v1.
    ResourceType("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False,
                 versions=("v1alpha1", "v1beta1", "v1")),
    # Derived on read from pods and nodes (what ``kubectl top`` asks for); never stored.
    _rt("metrics.k8s.io", "v1beta1", "pods", "PodMetrics", True),
    _rt("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False),
)
METRICS_GROUP = "metrics.k8s.io"
# Groups compiled into the API server (custom resources live in any other group).
BUILTIN_GROUPS = frozenset(rt.group for rt in BUILTIN)

# Groups in the order a real API server lists them (kubectl resolves short names in this order).
_GROUP_ORDER = ["", "apps", "autoscaling", "batch", "policy", "admissionregistration.k8s.io", "apiextensions.k8s.io",
                "rbac.authorization.k8s.io", "coordination.k8s.io", "networking.k8s.io", "discovery.k8s.io",
                "authentication.k8s.io", "authorization.k8s.io", "metrics.k8s.io"]


@dataclass
class Registry:
    """Types served now: the built-ins plus one entry per established CRD."""

    _types: dict[tuple[str, str], ResourceType] = field(default_factory=dict)  # (group, plural) -> type

    def __post_init__(self) -> None:
        for rt in BUILTIN:
            self._types[(rt.group, rt.plural)] = rt

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        """The type served at ``/<group>/<version>/<plural>``, with ``version`` as requested."""
        rt = self._types.get((group, plural))
        if rt is None or version not in rt.versions:
            return None
        if version == rt.version:
            return rt
        return ResourceType(rt.group, version, rt.plural, rt.kind, rt.namespaced, rt.short_names,
                            rt.categories, rt.subresources, rt.versions)

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        """The type of an object by its ``apiVersion`` and ``kind``."""
        group, _, version = api_version.rpartition("/")
        for rt in self._types.values():
            if rt.group == group and rt.kind == kind and version in rt.versions:
                return self.lookup(group, version, rt.plural)
        return None

    def by_key(self, key: str) -> ResourceType | None:
        plural, _, group = key.partition(".")
        return self._types.get((group, plural))

    def all(self) -> list[ResourceType]:
        return list(self._types.values())

    def groups(self) -> list[tuple[str, list[str]]]:
        """Each served group with its versions, preferred version first, in server order."""
        seen: dict[str, list[str]] = {}
        for rt in self._types.values():
            versions = seen.setdefault(rt.group, [])
            for v in reversed(rt.versions):  # CRD storage (newest) version first
                if v not in versions:
                    versions.append(v)
        order = {g: i for i, g in enumerate(_GROUP_ORDER)}
        return sorted(seen.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [self.lookup(group, version, rt.plural) for rt in self._types.values()
                if rt.group == group and version in rt.versions]

    def add_crd(self, crd: dict) -> ResourceType | None:
        """Serve the custom resource a CRD defines; returns its type (None if the CRD is malformed)."""
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        served = [v["name"] for v in spec.get("versions") or [] if v.get("served", True)]
        if not (spec.get("group") and names.get("plural") and names.get("kind") and served):
            return None
        storage = next((v["name"] for v in spec["versions"] if v.get("storage")), served[-1])
        rt = ResourceType(spec["group"], storage, names["plural"], names["kind"],
                          spec.get("scope", "Namespaced") == "Namespaced", tuple(names.get("shortNames") or ()),
                          tuple(names.get("categories") or ()), ("status",), tuple(served))
        self._types[(rt.group, rt.plural)] = rt
        return rt

    def serve(self, rt: ResourceType) -> None:
        """Serve ``rt`` (a kind loaded from a dump that nothing else defines; see generic.py)."""
        self._types[(rt.group, rt.plural)] = rt

    def remove_crd(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        self._types.pop((spec.get("group", ""), (spec.get("names") or {}).get("plural", "")), None)
