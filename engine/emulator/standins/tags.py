"""``istioctl tag set|list|remove``: revision tags as MutatingWebhookConfigurations istio-revision-tag-T."""
from __future__ import annotations

from typing import TextIO

from engine.emulator.istio_objects import REV_LABEL, TAG_LABEL, istiod_name, tag_webhook

from .common import CommandError, confirm, table
from .kubeclient import Conflict, KubeClient

_MWC = ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
DEFAULT_VALIDATOR = "istiod-default-validator"


def _revision_webhooks(client: KubeClient, revision: str) -> list[dict]:
    hooks = client.list(*_MWC, label_selector=f"{REV_LABEL}={revision}")
    return [h for h in hooks if TAG_LABEL not in (h["metadata"].get("labels") or {})]


def _tag_webhooks(client: KubeClient, tag: str) -> list[dict]:
    return client.list(*_MWC, label_selector=f"{TAG_LABEL}={tag}")


def namespaces_with_tag(client: KubeClient, tag: str) -> list[str]:
    """Namespaces labelled istio.io/rev=TAG (like the real istioctl, istio-injection=enabled ones are not listed)."""
    return sorted(n["metadata"]["name"] for n in client.list("v1", "Namespace", label_selector=f"{REV_LABEL}={tag}"))


def _apply_merged(client: KubeClient, obj: dict) -> None:
    """Create, or merge into what is there: other owners' labels and annotations (Helm's) survive, as they
    do under istioctl's server-side apply."""
    try:
        client.create(obj)
    except Conflict:
        patch = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        patch["metadata"] = {"labels": obj["metadata"].get("labels") or {}}
        client.patch(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], patch)


def _default_validator(revision: str) -> dict:
    # The default tag also owns validation for unrevisioned config, like the real istioctl's tag set.
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": DEFAULT_VALIDATOR,
                     "labels": {"app": "istiod", "istio": "istiod", REV_LABEL: revision, TAG_LABEL: "default"}},
        "webhooks": [{
            "name": "validation.istio.io", "admissionReviewVersions": ["v1beta1", "v1"],
            "clientConfig": {"service": {"name": istiod_name(revision), "namespace": "istio-system",
                                         "path": "/validate", "port": 443}},
            "failurePolicy": "Ignore", "sideEffects": "None", "namespaceSelector": {}, "objectSelector": {},
            "rules": [{"apiGroups": ["security.istio.io", "networking.istio.io", "telemetry.istio.io",
                                     "extensions.istio.io"], "apiVersions": ["*"],
                       "operations": ["CREATE", "UPDATE"], "resources": ["*"], "scope": "*"}],
        }],
    }


def set_tag(client: KubeClient, tag: str, revision: str, *, overwrite: bool, out: TextIO) -> int:
    """Create or move tag ``tag`` to ``revision``, refusing to move an existing tag without overwrite."""
    if not overwrite and tag != "default" and _revision_webhooks(client, tag):
        raise CommandError(f'cannot create revision tag "{tag}": found existing control plane revision '
                           "with same name")
    canonical = _revision_webhooks(client, revision)
    if not canonical:
        raise CommandError(f'cannot modify tag: cannot find MutatingWebhookConfiguration with revision "{revision}"')
    if len(canonical) > 1:
        raise CommandError(f'cannot modify tag: found multiple canonical webhooks with revision "{revision}"')
    existing = _tag_webhooks(client, tag)
    if existing and not overwrite:
        raise CommandError(f'revision tag "{tag}" already exists, and --overwrite is false')
    hook = tag_webhook(tag, revision)
    for old in existing:
        if old["metadata"]["name"] != hook["metadata"]["name"]:
            client.delete(*_MWC, old["metadata"]["name"])
    _apply_merged(client, hook)
    if tag == "default":
        _apply_merged(client, _default_validator(revision))
    out.write(f'Revision tag "{tag}" created, referencing control plane revision "{revision}". To enable '
              f"injection using this\nrevision tag, use 'kubectl label namespace <NAMESPACE> istio.io/rev={tag}'\n")
    return 0


def list_tags(client: KubeClient, out: TextIO) -> int:
    """Print TAG REVISION NAMESPACES, one row per tag webhook."""
    hooks = client.list(*_MWC, label_selector=TAG_LABEL)
    if not hooks:
        out.write("No Istio revision tag MutatingWebhookConfigurations to list\n")
        return 0
    rows = [["TAG", "REVISION", "NAMESPACES"]]
    for hook in sorted(hooks, key=lambda h: h["metadata"]["labels"][TAG_LABEL]):
        labels = hook["metadata"]["labels"]
        tag = labels[TAG_LABEL]
        rows.append([tag, labels.get(REV_LABEL, ""), ",".join(namespaces_with_tag(client, tag))])
    out.write(table(rows, padding=1))
    return 0


def remove_tag(client: KubeClient, tag: str, *, yes: bool, out: TextIO) -> int:
    """Delete a tag's webhooks (the default validator stays, as with istioctl); asks first when namespaces use it."""
    hooks = _tag_webhooks(client, tag)
    if not hooks:
        raise CommandError(f'cannot remove tag "{tag}": cannot find MutatingWebhookConfiguration for tag')
    using = namespaces_with_tag(client, tag)
    if using and not yes:
        prompt = (f"Caution, found {len(using)} namespace(s) still injected by tag \"{tag}\": "
                  f"{' '.join(using)}\nProceed with operation? [y/N]")
        if not confirm(prompt, out):
            out.write("Aborting operation.\n")
            return 0
    for hook in hooks:
        client.delete(*_MWC, hook["metadata"]["name"])
    out.write(f"Revision tag {tag} removed\n")
    return 0
