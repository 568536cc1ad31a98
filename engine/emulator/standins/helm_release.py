"""Helm 3 release records, stored the way helm stores them: Secrets ``sh.helm.release.v1.NAME.vN``.

The Secret's ``data.release`` is base64(gzip(JSON)) once more base64-encoded by the API, with labels
name/owner=helm/status/version, so ``kubectl get secrets -l owner=helm`` shows what a real cluster would.
"""
from __future__ import annotations

import base64
import gzip
import json
import time
from dataclasses import dataclass, field

import yaml

from .kubeclient import KubeClient

RELEASE_TYPE = "helm.sh/release.v1"


def now_rfc3339() -> str:
    """Helm's timestamp form: RFC 3339 with nanoseconds, UTC."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t % 1) * 1e9):09d}Z"


def list_time(stamp: str) -> str:
    """RFC 3339 -> the UPDATED column of ``helm list`` ('2026-11-26 14:50:00.123456789 +0000 UTC')."""
    date, _, rest = stamp.partition("T")
    return f"{date} {rest.rstrip('Z')} +0000 UTC"


def status_time(stamp: str) -> str:
    """RFC 3339 -> LAST DEPLOYED of ``helm status`` ('Thu Nov 26 14:50:00 2026')."""
    parsed = time.strptime(stamp.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
    return time.strftime("%a %b %d %H:%M:%S %Y", parsed)


@dataclass
class Release:
    """One version of one release."""

    name: str
    namespace: str
    version: int
    chart: str
    chart_version: str
    app_version: str
    status: str
    config: dict
    manifest: list[dict]
    first_deployed: str = field(default_factory=now_rfc3339)
    last_deployed: str = field(default_factory=now_rfc3339)
    description: str = "Install complete"
    notes: str = ""

    @property
    def secret_name(self) -> str:
        """sh.helm.release.v1.NAME.vN"""
        return f"sh.helm.release.v1.{self.name}.v{self.version}"

    def to_json(self) -> dict:
        """The release document helm 3 serialises (a subset of its fields, same names)."""
        return {
            "name": self.name,
            "info": {"first_deployed": self.first_deployed, "last_deployed": self.last_deployed, "deleted": "",
                     "description": self.description, "status": self.status, "notes": self.notes},
            "chart": {"metadata": {"name": self.chart, "version": self.chart_version,
                                   "appVersion": self.app_version, "apiVersion": "v2"},
                      "values": {}},
            "config": self.config,
            "manifest": "".join(f"---\n# Source: {self.chart}/templates/{o['kind'].lower()}.yaml\n"
                                + yaml.safe_dump(o, sort_keys=False) for o in self.manifest),
            "version": self.version,
            "namespace": self.namespace,
        }

    @classmethod
    def from_json(cls, doc: dict) -> "Release":
        """Inverse of to_json."""
        info, meta = doc.get("info") or {}, (doc.get("chart") or {}).get("metadata") or {}
        manifest = [o for o in yaml.safe_load_all(doc.get("manifest") or "") if o]
        return cls(doc["name"], doc.get("namespace", ""), int(doc.get("version", 1)), meta.get("name", ""),
                   meta.get("version", ""), meta.get("appVersion", ""), info.get("status", "unknown"),
                   doc.get("config") or {}, manifest, info.get("first_deployed", ""), info.get("last_deployed", ""),
                   info.get("description", ""), info.get("notes", ""))


def encode(release: Release) -> str:
    """The Secret's data.release value (what the API stores: base64 of helm's base64(gzip(json)))."""
    inner = base64.b64encode(gzip.compress(json.dumps(release.to_json()).encode())).decode()
    return base64.b64encode(inner.encode()).decode()


def decode(data: str) -> Release:
    """Inverse of encode."""
    inner = base64.b64decode(base64.b64decode(data))
    raw = gzip.decompress(inner) if inner[:2] == b"\x1f\x8b" else inner
    return Release.from_json(json.loads(raw))


def to_secret(release: Release) -> dict:
    """The Secret that records ``release``."""
    return {
        "apiVersion": "v1", "kind": "Secret", "type": RELEASE_TYPE,
        "metadata": {"name": release.secret_name, "namespace": release.namespace,
                     "labels": {"name": release.name, "owner": "helm", "status": release.status,
                                "version": str(release.version), "modifiedAt": str(int(time.time()))}},
        "data": {"release": encode(release)},
    }


class ReleaseStore:
    """Release history in one namespace (or all, for listing)."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    def history(self, name: str, namespace: str) -> list[Release]:
        """Every stored version of a release, oldest first."""
        secrets = self.client.list("v1", "Secret", namespace, f"owner=helm,name={name}")
        return sorted((decode(s["data"]["release"]) for s in secrets if (s.get("data") or {}).get("release")),
                      key=lambda r: r.version)

    def latest(self, name: str, namespace: str) -> Release | None:
        """The newest version, or None."""
        hist = self.history(name, namespace)
        return hist[-1] if hist else None

    def all_latest(self, namespace: str | None) -> list[Release]:
        """The newest version of every release (in ``namespace``, or everywhere when None)."""
        newest: dict[tuple[str, str], Release] = {}
        for secret in self.client.list("v1", "Secret", namespace, "owner=helm"):
            if not (secret.get("data") or {}).get("release"):
                continue
            rel = decode(secret["data"]["release"])
            key = (rel.namespace, rel.name)
            if key not in newest or newest[key].version < rel.version:
                newest[key] = rel
        return sorted(newest.values(), key=lambda r: (r.name, r.namespace))

    def save(self, release: Release) -> None:
        """Create or replace the Secret of this version."""
        self.client.apply(to_secret(release))

    def supersede(self, release: Release) -> None:
        """Mark an older version superseded, as an upgrade does."""
        release.status = "superseded"
        self.save(release)

    def delete_all(self, name: str, namespace: str) -> None:
        """Forget a release's whole history."""
        for rel in self.history(name, namespace):
            self.client.delete("v1", "Secret", rel.secret_name, namespace)
