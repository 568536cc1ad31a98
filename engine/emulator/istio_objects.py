"""The Kubernetes objects an Istio control-plane install creates, shaped like Istio 1.19-1.2x's own.

Owned here so the emulator's cluster files, its sidecar injector and the stand-in istioctl/helm all agree
on one set of conventions (names, labels, webhooks). Conventions, per revision R in namespace istio-system:

- revision ``default`` has no name suffix; any other revision R suffixes names with ``-R``
  (``istiod`` / ``istiod-1-20-0``); every revision-owned object carries the label ``istio.io/rev=R``
  and ``operator.istio.io/version``, so ``uninstall --revision R`` removes what carries ``istio.io/rev=R``.
- Deployment/Service/HPA/PDB/ServiceAccount ``istiod[-R]``; ConfigMaps ``istio[-R]`` (mesh config) and
  ``istio-sidecar-injector[-R]`` (its ``values`` key is JSON with ``global.hub``/``global.tag``: the
  proxy image the revision injects); MutatingWebhookConfiguration ``istio-sidecar-injector[-R]``
  (label ``app=sidecar-injector``); ValidatingWebhookConfiguration ``istio-validator[-R]-istio-system``
  (plus ``istiod-default-validator`` for ``default``); IstioOperator ``installed-state[-R]``.
- The gateway is Deployment ``istio-ingressgateway[-R]`` (+HPA, PDB) whose pods run
  ``docker.io/istio/proxyv2:VERSION`` with ``istio.io/rev=R``; the Service ``istio-ingressgateway`` is
  shared by all revisions (selector ``app``+``istio``, no revision label) so removing one revision
  keeps ingress up.
- Shared base objects (namespace, CRDs, istio-reader ServiceAccount) carry no revision label; installers
  create them only when absent.
- ``istioctl tag set T --revision R`` creates MutatingWebhookConfiguration ``istio-revision-tag-T`` (labels
  ``istio.io/tag=T``, ``istio.io/rev=R``): see :func:`tag_webhook`.

Injection follows the webhooks themselves: a namespace labelled ``istio.io/rev=R`` (R a revision or a tag)
or ``istio-injection=enabled`` (the ``default`` tag, else the ``default`` revision) is injected by the first
matching webhook, by configuration name, as the API server calls them in order.
"""
from __future__ import annotations

import copy
import json
from typing import Any

ISTIO_NAMESPACE = "istio-system"
DEFAULT_HUB = "docker.io/istio"
REV_LABEL = "istio.io/rev"
TAG_LABEL = "istio.io/tag"
INJECTION_LABEL = "istio-injection"

# Istio's profiles, reduced to what changes the object set.
_PROFILES = {
    "default": {"gateway": True, "egress": False},
    "demo": {"gateway": True, "egress": True},
    "minimal": {"gateway": False, "egress": False},
    "empty": {"gateway": False, "egress": False},
    "preview": {"gateway": True, "egress": False},
    "remote": {"gateway": False, "egress": False},
}


def suffix(revision: str) -> str:
    """The name suffix of a revision's objects: '' for ``default``, '-R' otherwise."""
    return "" if revision in ("", "default") else f"-{revision}"


def istiod_name(revision: str) -> str:
    """Name of the revision's istiod Deployment and Service."""
    return f"istiod{suffix(revision)}"


def injector_configmap_name(revision: str) -> str:
    """Name of the ConfigMap whose ``values`` say which proxy image the revision injects."""
    return f"istio-sidecar-injector{suffix(revision)}"


def injector_webhook_name(revision: str) -> str:
    """Name of the revision's sidecar-injector MutatingWebhookConfiguration."""
    return f"istio-sidecar-injector{suffix(revision)}"


def gateway_name(revision: str) -> str:
    """Name of the revision's ingress gateway Deployment."""
    return f"istio-ingressgateway{suffix(revision)}"


def deep_merge(base: dict, over: dict) -> dict:
    """Deep-merge ``over`` into a copy of ``base`` (Helm-values style)."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def default_values(revision: str, version: str) -> dict:
    """The Helm-style values an install of ``revision`` at ``version`` starts from."""
    return {
        "revision": "" if revision == "default" else revision,
        "global": {"hub": DEFAULT_HUB, "tag": version, "istioNamespace": ISTIO_NAMESPACE,
                   "proxy": {"image": "proxyv2"}},
        "pilot": {"replicaCount": 1, "image": "pilot", "autoscaleMin": 1, "autoscaleMax": 5,
                  "resources": {"requests": {"cpu": "500m", "memory": "2048Mi"}}},
        "gateways": {"istio-ingressgateway": {"replicaCount": 1, "autoscaleMin": 1, "autoscaleMax": 5}},
        "sidecarInjectorWebhook": {"enableNamespacesByDefault": False},
    }


def _labels(revision: str, version: str, component: str, owner: str) -> dict:
    return {
        REV_LABEL: revision,
        "install.operator.istio.io/owning-resource": owner,
        "operator.istio.io/component": component,
        "operator.istio.io/version": version,
        "release": "istio",
    }


def _meta(name: str, labels: dict, namespace: str | None = ISTIO_NAMESPACE, **extra: Any) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def _sel(*exprs: tuple[str, str, list[str] | None]) -> dict:
    """A labelSelector of matchExpressions from (key, operator, values) triples."""
    out = []
    for key, op, values in exprs:
        expr: dict[str, Any] = {"key": key, "operator": op}
        if values is not None:
            expr["values"] = values
        out.append(expr)
    return {"matchExpressions": out}


def _webhook(name: str, revision: str, ns_sel: dict, obj_sel: dict) -> dict:
    return {
        "name": name,
        "admissionReviewVersions": ["v1beta1", "v1"],
        "clientConfig": {"service": {"name": istiod_name(revision), "namespace": ISTIO_NAMESPACE,
                                     "path": "/inject", "port": 443}},
        "failurePolicy": "Fail",
        "matchPolicy": "Equivalent",
        "namespaceSelector": ns_sel,
        "objectSelector": obj_sel,
        "reinvocationPolicy": "Never",
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                   "resources": ["pods"], "scope": "*"}],
        "sideEffects": "None",
        "timeoutSeconds": 10,
    }


def injection_webhooks(revision: str, *, default_selectors: bool) -> list[dict]:
    """The webhooks of an injector configuration for ``revision``.

    ``revision`` is matched through ``istio.io/rev``; ``default_selectors`` adds the ``istio-injection=enabled``
    and ``sidecar.istio.io/inject=true`` ones that the ``default`` revision or tag owns.
    """
    not_false = ("sidecar.istio.io/inject", "NotIn", ["false"])
    hooks = [
        _webhook("rev.namespace.sidecar-injector.istio.io", revision,
                 _sel((REV_LABEL, "In", [revision]), (INJECTION_LABEL, "DoesNotExist", None)),
                 _sel(not_false)),
        _webhook("rev.object.sidecar-injector.istio.io", revision,
                 _sel((REV_LABEL, "DoesNotExist", None), (INJECTION_LABEL, "DoesNotExist", None)),
                 _sel(not_false, (REV_LABEL, "In", [revision]))),
    ]
    if default_selectors:
        hooks += [
            _webhook("namespace.sidecar-injector.istio.io", revision,
                     _sel((INJECTION_LABEL, "In", ["enabled"])), _sel(not_false)),
            _webhook("object.sidecar-injector.istio.io", revision,
                     _sel((INJECTION_LABEL, "DoesNotExist", None), (REV_LABEL, "DoesNotExist", None)),
                     _sel(("sidecar.istio.io/inject", "In", ["true"]), (REV_LABEL, "DoesNotExist", None))),
        ]
    return hooks


def tag_webhook(tag: str, revision: str) -> dict:
    """The MutatingWebhookConfiguration ``istioctl tag set TAG --revision REVISION`` creates.

    For the ``default`` tag it also answers ``istio-injection=enabled`` namespaces; since its name sorts
    before ``istio-sidecar-injector``, it wins over the default revision's own webhook.
    """
    hooks = injection_webhooks(tag, default_selectors=(tag == "default"))
    for hook in hooks:
        hook["clientConfig"]["service"]["name"] = istiod_name(revision)
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": _meta(f"istio-revision-tag-{tag}", {
            "app": "sidecar-injector", REV_LABEL: revision, TAG_LABEL: tag,
            "istio.io/owned-by": "istioctl"}, namespace=None),
        "webhooks": hooks,
    }


def _crd(plural: str, kind: str, group: str, versions: list[str], short: list[str] | None = None,
         columns: list[dict] | None = None) -> dict:
    vers = []
    for i, v in enumerate(versions):
        entry: dict[str, Any] = {
            "name": v, "served": True, "storage": i == len(versions) - 1,
            "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            "subresources": {"status": {}},
        }
        if columns:
            entry["additionalPrinterColumns"] = columns
        vers.append(entry)
    names: dict[str, Any] = {"plural": plural, "singular": kind.lower(), "kind": kind,
                             "listKind": f"{kind}List", "categories": ["istio-io"]}
    if short:
        names["shortNames"] = short
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}", "labels": {"app": "istio-pilot", "release": "istio"}},
        "spec": {"group": group, "names": names, "scope": "Namespaced", "versions": vers},
    }


_AGE_COL = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def istio_crds() -> list[dict]:
    """The Istio CRDs the base chart installs (IstioOperator and the networking/security APIs)."""
    net = ["v1alpha3", "v1beta1"]
    return [
        _crd("istiooperators", "IstioOperator", "install.istio.io", ["v1alpha1"], ["iop", "io"], [
            {"name": "Revision", "type": "string", "jsonPath": ".spec.revision"},
            {"name": "Status", "type": "string", "jsonPath": ".status.status"},
            _AGE_COL]),
        _crd("virtualservices", "VirtualService", "networking.istio.io", net, ["vs"], [
            {"name": "Gateways", "type": "string", "jsonPath": ".spec.gateways"},
            {"name": "Hosts", "type": "string", "jsonPath": ".spec.hosts"}, _AGE_COL]),
        _crd("destinationrules", "DestinationRule", "networking.istio.io", net, ["dr"], [
            {"name": "Host", "type": "string", "jsonPath": ".spec.host"}, _AGE_COL]),
        _crd("gateways", "Gateway", "networking.istio.io", net, ["gw"], [_AGE_COL]),
        _crd("serviceentries", "ServiceEntry", "networking.istio.io", net, ["se"], [_AGE_COL]),
        _crd("sidecars", "Sidecar", "networking.istio.io", net, None, [_AGE_COL]),
        _crd("envoyfilters", "EnvoyFilter", "networking.istio.io", ["v1alpha3"], None, [_AGE_COL]),
        _crd("peerauthentications", "PeerAuthentication", "security.istio.io", ["v1beta1"], ["pa"], [
            {"name": "Mode", "type": "string", "jsonPath": ".spec.mtls.mode"}, _AGE_COL]),
        _crd("authorizationpolicies", "AuthorizationPolicy", "security.istio.io", ["v1beta1"], ["ap"],
             [_AGE_COL]),
        _crd("requestauthentications", "RequestAuthentication", "security.istio.io", ["v1beta1"], ["ra"],
             [_AGE_COL]),
        _crd("telemetries", "Telemetry", "telemetry.istio.io", ["v1alpha1"], ["telemetry"], [_AGE_COL]),
    ]


def base_objects() -> list[dict]:
    """Objects shared by every revision: the namespace, the CRDs and the reader ServiceAccount."""
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}},
        *istio_crds(),
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": _meta("istio-reader-service-account", {"app": "istio-reader", "release": "istio"})},
    ]


def _deployment(name: str, labels: dict, selector: dict, pod_labels: dict, container: dict,
                replicas: int, pod_annotations: dict | None = None, service_account: str = "") -> dict:
    spec_pod: dict[str, Any] = {"containers": [container]}
    if service_account:
        spec_pod["serviceAccountName"] = service_account
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, labels),
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "100%", "maxUnavailable": "25%"}},
            "template": {"metadata": {"labels": pod_labels,
                                      "annotations": dict(pod_annotations or {})},
                         "spec": spec_pod},
        },
    }


def _hpa(name: str, labels: dict, lo: int, hi: int) -> dict:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name, labels),
        "spec": {"minReplicas": lo, "maxReplicas": hi,
                 "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "metrics": [{"type": "Resource", "resource": {
                     "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]},
    }


def _pdb(name: str, labels: dict, selector: dict) -> dict:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, labels),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector}},
    }


def control_plane_objects(revision: str, version: str, *, profile: str = "default",
                          values: dict | None = None, gateway: bool = True) -> list[dict]:
    """Every object an install of ``revision`` at Istio ``version`` creates, base objects first.

    ``values`` are Helm-style overrides (``pilot.replicaCount``, ``global.hub``, ``global.tag``,
    ``gateways.istio-ingressgateway.replicaCount``, ``meshConfig``); ``gateway`` False (or a profile
    without gateways, such as ``minimal``) leaves the ingress gateway out.
    """
    revision = revision or "default"
    if profile not in _PROFILES:
        raise ValueError(f"unknown Istio profile {profile!r}; known: {', '.join(sorted(_PROFILES))}")
    vals = deep_merge(default_values(revision, version), values or {})
    hub, tag = vals["global"]["hub"], str(vals["global"]["tag"])
    sfx = suffix(revision)
    owner = f"installed-state{sfx}"
    istiod = istiod_name(revision)
    pilot_labels = {**_labels(revision, version, "Pilot", owner), "app": "istiod", "istio": "pilot"}
    selector = {"app": "istiod", REV_LABEL: revision}
    pod_labels = {"app": "istiod", "istio": "pilot", REV_LABEL: revision, "sidecar.istio.io/inject": "false",
                  "operator.istio.io/component": "Pilot"}
    mesh = deep_merge({"defaultConfig": {"discoveryAddress": f"{istiod}.{ISTIO_NAMESPACE}.svc:15012",
                                     "tracing": {"zipkin": {"address": "zipkin.istio-system:9411"}}},
                   "enablePrometheusMerge": True, "rootNamespace": ISTIO_NAMESPACE,
                   "trustDomain": "cluster.local"}, vals.get("meshConfig") or {})
    objs: list[dict] = base_objects()
    objs += [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(istiod, pilot_labels)},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(f"istio{sfx}", pilot_labels),
         "data": {"mesh": json.dumps(mesh, indent=2, sort_keys=True), "meshNetworks": "networks: {}"}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": _meta(injector_configmap_name(revision), pilot_labels),
         "data": {"values": json.dumps(vals, sort_keys=True),
                  "config": "defaultTemplates: [sidecar]\npolicy: enabled\ntemplates:\n  sidecar: ...\n"}},
        _deployment(istiod, pilot_labels, selector, pod_labels, {
            "name": "discovery", "image": f"{hub}/{vals['pilot']['image']}:{tag}",
            "args": ["discovery", "--monitoringAddr=:15014", "--log_output_level=default:info",
                     "--domain", "cluster.local", "--keepaliveMaxServerConnectionAge", "30m"],
            "ports": [{"containerPort": 8080, "protocol": "TCP"}, {"containerPort": 15010, "protocol": "TCP"},
                      {"containerPort": 15017, "protocol": "TCP"}],
            "env": [{"name": "REVISION", "value": revision}],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "initialDelaySeconds": 1,
                               "periodSeconds": 3, "timeoutSeconds": 5},
            "resources": vals["pilot"].get("resources", {}),
        }, int(vals["pilot"]["replicaCount"]), {"prometheus.io/port": "15014", "prometheus.io/scrape": "true",
                                                 "sidecar.istio.io/inject": "false"}, istiod),
        {"apiVersion": "v1", "kind": "Service", "metadata": _meta(istiod, pilot_labels),
         "spec": {"type": "ClusterIP", "selector": selector, "ports": [
             {"name": "grpc-xds", "port": 15010, "protocol": "TCP", "targetPort": 15010},
             {"name": "https-dns", "port": 15012, "protocol": "TCP", "targetPort": 15012},
             {"name": "https-webhook", "port": 443, "protocol": "TCP", "targetPort": 15017},
             {"name": "http-monitoring", "port": 15014, "protocol": "TCP", "targetPort": 15014}]}},
        _hpa(istiod, pilot_labels, int(vals["pilot"]["autoscaleMin"]), int(vals["pilot"]["autoscaleMax"])),
        _pdb(istiod, pilot_labels, selector),
        {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
         "metadata": _meta(injector_webhook_name(revision), {**pilot_labels, "app": "sidecar-injector"},
                           namespace=None),
         "webhooks": injection_webhooks(revision, default_selectors=(revision == "default"))},
    ]
    validators = [f"istio-validator{sfx}-{ISTIO_NAMESPACE}"]
    if revision == "default":
        validators.append("istiod-default-validator")
    for name in validators:
        objs.append({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
            "metadata": _meta(name, {**pilot_labels, "app": "istiod", "istio": "istiod"}, namespace=None),
            "webhooks": [{
                "name": "rev.validation.istio.io" if name != "istiod-default-validator"
                else "validation.istio.io",
                "admissionReviewVersions": ["v1beta1", "v1"],
                "clientConfig": {"service": {"name": istiod, "namespace": ISTIO_NAMESPACE,
                                             "path": "/validate", "port": 443}},
                "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "sideEffects": "None",
                "namespaceSelector": {}, "objectSelector": {} if name == "istiod-default-validator" else
                _sel((REV_LABEL, "In", [revision])),
                "rules": [{"apiGroups": ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
                                         "extensions.istio.io"], "apiVersions": ["*"],
                           "operations": ["CREATE", "UPDATE"], "resources": ["*"], "scope": "*"}],
                "timeoutSeconds": 10,
            }],
        })
    if gateway and _PROFILES[profile]["gateway"]:
        objs += _gateway_objects(revision, version, vals, owner)
    objs.append({
        "apiVersion": "install.istio.io/v1alpha1", "kind": "IstioOperator",
        "metadata": _meta(owner, {REV_LABEL: revision, "operator.istio.io/version": version},
                          annotations={"install.istio.io/ignoreReconcile": "true"}),
        "spec": {"profile": profile, **({} if revision == "default" else {"revision": revision}),
                 "hub": hub, "tag": tag, "values": vals,
                 "components": {"pilot": {"enabled": True},
                                "ingressGateways": [{"name": "istio-ingressgateway",
                                                     "enabled": bool(gateway and _PROFILES[profile]["gateway"])}]}},
    })
    return objs


def _gateway_objects(revision: str, version: str, vals: dict, owner: str) -> list[dict]:
    name = gateway_name(revision)
    hub, tag = vals["global"]["hub"], str(vals["global"]["tag"])
    gw_vals = vals["gateways"]["istio-ingressgateway"]
    labels = {**_labels(revision, version, "IngressGateways", owner),
              "app": "istio-ingressgateway", "istio": "ingressgateway"}
    selector = {"app": "istio-ingressgateway", "istio": "ingressgateway", REV_LABEL: revision}
    pod_labels = {**selector, "service.istio.io/canonical-name": "istio-ingressgateway",
                  "service.istio.io/canonical-revision": "latest", "sidecar.istio.io/inject": "false"}
    ports = [{"name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021},
             {"name": "http2", "port": 80, "protocol": "TCP", "targetPort": 8080},
             {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8443}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": _meta(f"istio-ingressgateway-service-account{suffix(revision)}", labels)},
        _deployment(name, labels, selector, pod_labels, {
            "name": "istio-proxy", "image": f"{hub}/{vals['global']['proxy']['image']}:{tag}",
            "args": ["proxy", "router", "--domain", "$(POD_NAMESPACE).svc.cluster.local"],
            "ports": [{"containerPort": 15021, "protocol": "TCP"}, {"containerPort": 8080, "protocol": "TCP"},
                      {"containerPort": 8443, "protocol": "TCP"}],
            "readinessProbe": {"httpGet": {"path": "/healthz/ready", "port": 15021}},
        }, int(gw_vals["replicaCount"]), {"sidecar.istio.io/inject": "false"}),
        _hpa(name, labels, int(gw_vals["autoscaleMin"]), int(gw_vals["autoscaleMax"])),
        _pdb(name, labels, selector),
        # Shared by all revisions: no revision label, so uninstalling one revision keeps the entry point.
        {"apiVersion": "v1", "kind": "Service",
         "metadata": _meta("istio-ingressgateway", {"app": "istio-ingressgateway", "istio": "ingressgateway",
                                                    "release": "istio"}),
         "spec": {"type": "LoadBalancer", "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
                  "ports": ports}},
    ]
