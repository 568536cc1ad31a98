"""Decoding of the Kubernetes protobuf envelope for the built-in kinds kubectl's typed client sends.

kubectl sends ``kubectl create namespace|deployment|configmap|secret|service|serviceaccount|job|cronjob`` bodies as
``application/vnd.kubernetes.protobuf`` and never falls back to JSON, so the API server must read them. Only
the fields those commands set are mapped (field numbers from the ``k8s.io/api`` ``generated.proto``
definitions); a body with any other non-empty field is refused with 415 rather than silently truncated.
"""
from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from .errors import ApiError

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"

# A schema maps field number -> (json name, kind); kind is "s" string, "i" int, "b" bool, "y" bytes
# (base64 in JSON), "ios" IntOrString, "time", "map" (string->string), "mapy" (string->bytes),
# "mapq" (string->Quantity), ("msg", schema) or ("list", kind).
Schema = dict[int, tuple[str, Any]]

TIME: Schema = {1: ("seconds", "i"), 2: ("nanos", "i")}
OWNER_REF: Schema = {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                     6: ("controller", "b"), 7: ("blockOwnerDeletion", "b")}
OBJECT_META: Schema = {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 4: ("selfLink", "s"),
                       5: ("uid", "s"), 6: ("resourceVersion", "s"), 7: ("generation", "i"),
                       8: ("creationTimestamp", "time"), 9: ("deletionTimestamp", "time"),
                       10: ("deletionGracePeriodSeconds", "i"), 11: ("labels", "map"), 12: ("annotations", "map"),
                       13: ("ownerReferences", ("list", ("msg", OWNER_REF))), 14: ("finalizers", ("list", "s")),
                       17: ("managedFields", "ignore")}
LABEL_SELECTOR: Schema = {1: ("matchLabels", "map"), 2: ("matchExpressions", ("list", ("msg", {
    1: ("key", "s"), 2: ("operator", "s"), 3: ("values", ("list", "s"))})))}
CONTAINER: Schema = {
    1: ("name", "s"), 2: ("image", "s"), 3: ("command", ("list", "s")), 4: ("args", ("list", "s")),
    5: ("workingDir", "s"),
    6: ("ports", ("list", ("msg", {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"),
                                   4: ("protocol", "s"), 5: ("hostIP", "s")}))),
    7: ("env", ("list", ("msg", {1: ("name", "s"), 2: ("value", "s")}))),
    8: ("resources", ("msg", {1: ("limits", "mapq"), 2: ("requests", "mapq")})),
    9: ("volumeMounts", ("list", ("msg", {1: ("name", "s"), 2: ("readOnly", "b"), 3: ("mountPath", "s"),
                                          4: ("subPath", "s"), 5: ("mountPropagation", "s"),
                                          6: ("subPathExpr", "s")}))),
    13: ("terminationMessagePath", "s"), 14: ("imagePullPolicy", "s"), 16: ("stdin", "b"),
    15: ("securityContext", ("msg", {2: ("privileged", "b0"), 4: ("runAsUser", "i0"), 5: ("runAsNonRoot", "b0"),
                                     6: ("readOnlyRootFilesystem", "b0"), 7: ("allowPrivilegeEscalation", "b0"),
                                     8: ("runAsGroup", "i0")})),
    17: ("stdinOnce", "b"), 18: ("tty", "b"), 20: ("terminationMessagePolicy", "s")}
POD_SPEC: Schema = {2: ("containers", ("list", ("msg", CONTAINER))), 3: ("restartPolicy", "s"),
                    4: ("terminationGracePeriodSeconds", "i0"), 5: ("activeDeadlineSeconds", "i0"),
                    6: ("dnsPolicy", "s"), 7: ("nodeSelector", "map"),
                    8: ("serviceAccountName", "s"), 9: ("serviceAccount", "s"), 10: ("nodeName", "s"),
                    14: ("securityContext", ("msg", {2: ("runAsUser", "i0"), 3: ("runAsNonRoot", "b0"),
                                                     5: ("fsGroup", "i0"), 6: ("runAsGroup", "i0")})),
                    15: ("imagePullSecrets", ("list", ("msg", {1: ("name", "s")}))), 16: ("hostname", "s"),
                    17: ("subdomain", "s"), 19: ("schedulerName", "s"),
                    20: ("initContainers", ("list", ("msg", CONTAINER))),
                    21: ("automountServiceAccountToken", "b0"),
                    22: ("tolerations", ("list", ("msg", {1: ("key", "s"), 2: ("operator", "s"), 3: ("value", "s"),
                                                          4: ("effect", "s"), 5: ("tolerationSeconds", "i0")}))),
                    24: ("priorityClassName", "s"), 30: ("enableServiceLinks", "b0")}
POD_TEMPLATE: Schema = {1: ("metadata", ("msg", OBJECT_META)), 2: ("spec", ("msg", POD_SPEC))}
DEPLOYMENT: Schema = {
    1: ("metadata", ("msg", OBJECT_META)),
    2: ("spec", ("msg", {1: ("replicas", "i0"), 2: ("selector", ("msg", LABEL_SELECTOR)),
                         3: ("template", ("msg", POD_TEMPLATE)),
                         4: ("strategy", ("msg", {1: ("type", "s"), 2: ("rollingUpdate", ("msg", {
                             1: ("maxUnavailable", "ios"), 2: ("maxSurge", "ios")}))})),
                         5: ("minReadySeconds", "i"), 6: ("revisionHistoryLimit", "i"), 7: ("paused", "b"),
                         9: ("progressDeadlineSeconds", "i")})),
    3: ("status", "ignore")}
SERVICE: Schema = {
    1: ("metadata", ("msg", OBJECT_META)),
    2: ("spec", ("msg", {
        1: ("ports", ("list", ("msg", {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"),
                                       4: ("targetPort", "ios"), 5: ("nodePort", "i"), 6: ("appProtocol", "s")}))),
        2: ("selector", "map"), 3: ("clusterIP", "s"), 4: ("type", "s"), 5: ("externalIPs", ("list", "s")),
        7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"), 10: ("externalName", "s"),
        11: ("externalTrafficPolicy", "s")})),
    3: ("status", "ignore")}
JOB_SPEC: Schema = {1: ("parallelism", "i0"), 2: ("completions", "i0"), 3: ("activeDeadlineSeconds", "i0"),
                    4: ("selector", ("msg", LABEL_SELECTOR)), 5: ("manualSelector", "b0"),
                    6: ("template", ("msg", POD_TEMPLATE)), 7: ("backoffLimit", "i0"),
                    8: ("ttlSecondsAfterFinished", "i0"), 9: ("completionMode", "s"), 10: ("suspend", "b0"),
                    12: ("backoffLimitPerIndex", "i0"), 13: ("maxFailedIndexes", "i0"),
                    14: ("podReplacementPolicy", "s"), 15: ("managedBy", "s")}
# ``kubectl create job [--from=cronjob/X]`` and ``kubectl create cronjob`` (k8s.io/api/batch/v1/generated.proto).
JOB: Schema = {1: ("metadata", ("msg", OBJECT_META)), 2: ("spec", ("msg", JOB_SPEC)), 3: ("status", "ignore")}
CRON_JOB: Schema = {
    1: ("metadata", ("msg", OBJECT_META)),
    2: ("spec", ("msg", {1: ("schedule", "s"), 2: ("startingDeadlineSeconds", "i0"), 3: ("concurrencyPolicy", "s"),
                         4: ("suspend", "b0"), 5: ("jobTemplate", ("msg", {1: ("metadata", ("msg", OBJECT_META)),
                                                                            2: ("spec", ("msg", JOB_SPEC))})),
                         6: ("successfulJobsHistoryLimit", "i0"), 7: ("failedJobsHistoryLimit", "i0"),
                         8: ("timeZone", "s")})),
    3: ("status", "ignore")}
KINDS: dict[tuple[str, str], Schema] = {
    ("v1", "Namespace"): {1: ("metadata", ("msg", OBJECT_META)), 2: ("spec", ("msg", {
        1: ("finalizers", ("list", "s"))})), 3: ("status", "ignore")},
    ("v1", "ConfigMap"): {1: ("metadata", ("msg", OBJECT_META)), 2: ("data", "map"), 3: ("binaryData", "mapy"),
                          4: ("immutable", "b")},
    ("v1", "Secret"): {1: ("metadata", ("msg", OBJECT_META)), 2: ("data", "mapy"), 3: ("type", "s"),
                       4: ("stringData", "map"), 5: ("immutable", "b")},
    ("v1", "ServiceAccount"): {1: ("metadata", ("msg", OBJECT_META)), 3: ("imagePullSecrets", ("list", ("msg", {
        1: ("name", "s")}))), 4: ("automountServiceAccountToken", "b")},
    ("v1", "Service"): SERVICE,
    ("apps/v1", "Deployment"): DEPLOYMENT,
    ("batch/v1", "Job"): JOB,
    ("batch/v1", "CronJob"): CRON_JOB,
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {  # kubectl auth can-i
        1: ("metadata", ("msg", OBJECT_META)),
        2: ("spec", ("msg", {1: ("resourceAttributes", ("msg", {
            1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"), 5: ("resource", "s"),
            6: ("subresource", "s"), 7: ("name", "s"), 8: ("fieldSelector", "ignore"),
            9: ("labelSelector", "ignore")})),
            2: ("nonResourceAttributes", ("msg", {1: ("path", "s"), 2: ("verb", "s")}))})),
        3: ("status", "ignore")},
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {  # kubectl auth can-i --list
        1: ("metadata", ("msg", OBJECT_META)), 2: ("spec", ("msg", {1: ("namespace", "s")})),
        3: ("status", "ignore")},
    # kubectl auth whoami (the review has no spec; its status is the answer)
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {1: ("metadata", ("msg", OBJECT_META)),
                                                         2: ("status", "ignore")},
    ("authentication.k8s.io/v1beta1", "SelfSubjectReview"): {1: ("metadata", ("msg", OBJECT_META)),
                                                              2: ("status", "ignore")},
    ("authentication.k8s.io/v1alpha1", "SelfSubjectReview"): {1: ("metadata", ("msg", OBJECT_META)),
                                                               2: ("status", "ignore")},
}


# Kinds every group version registers (``metav1.AddToGroupVersion``): read whatever apiVersion they carry.
ANY_VERSION: dict[str, Schema] = {
    # ``helm uninstall`` and client-go's typed clients send DeleteOptions as protobuf.
    "DeleteOptions": {1: ("gracePeriodSeconds", "i0"), 2: ("preconditions", ("msg", {
        1: ("uid", "s"), 2: ("resourceVersion", "s")})), 3: ("orphanDependents", "b0"),
        4: ("propagationPolicy", "s"), 5: ("dryRun", ("list", "s")),
        6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "b0")},
}


def _unsupported(why: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", f"the emulator reads protobuf bodies only for the objects "
                    f"`kubectl create` makes ({why}); send JSON or YAML instead, e.g. "
                    f"`kubectl create ... --dry-run=client -o yaml | kubectl apply -f -`")


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise _unsupported("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf: bytes) -> list[tuple[int, int, Any]]:
    """The (field number, wire type, value) triples of one message; values are ints or bytes."""
    out, pos = [], 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 1:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == 5:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise _unsupported(f"wire type {wire}")
        out.append((num, wire, value))
    return out


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _scalar(kind: Any, value: Any, where: str) -> Any:
    if kind == "s":
        return value.decode("utf-8")
    if kind in ("i", "i0"):
        return _signed(value)
    if kind in ("b", "b0"):
        return bool(value)
    if kind == "y":
        return base64.b64encode(value).decode()
    if kind == "ios":
        parts = {n: v for n, _, v in fields(value)}
        return parts.get(3, b"").decode() if parts.get(1) == 1 else _signed(parts.get(2, 0))
    if kind == "time":
        parts = {n: v for n, _, v in fields(value)}
        if not parts.get(1):
            return None
        return dt.datetime.fromtimestamp(_signed(parts[1]), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind in ("map", "mapy", "mapq"):
        parts = {n: v for n, _, v in fields(value)}
        val = parts.get(2, b"")
        if kind == "mapq":
            val = {n: v for n, _, v in fields(val)}.get(1, b"").decode()
        elif kind == "mapy":
            val = base64.b64encode(val).decode()
        else:
            val = val.decode()
        return parts.get(1, b"").decode(), val
    if isinstance(kind, tuple) and kind[0] == "msg":
        return decode_message(value, kind[1], where)
    raise _unsupported(f"field kind {kind!r} at {where}")


def decode_message(buf: bytes, schema: Schema, where: str = "") -> dict:
    """One message as the JSON the same object serialises to (zero values omitted, as ``omitempty``)."""
    out: dict[str, Any] = {}
    for num, _, value in fields(buf):
        if num not in schema:
            if value in (b"", 0):
                continue
            raise _unsupported(f"field {num} of {where or 'the object'}")
        name, kind = schema[num]
        path = f"{where}.{name}" if where else name
        if kind == "ignore":
            continue
        if isinstance(kind, tuple) and kind[0] == "list":
            out.setdefault(name, []).append(_scalar(kind[1], value, path))
        elif kind in ("map", "mapy", "mapq"):
            k, v = _scalar(kind, value, path)
            out.setdefault(name, {})[k] = v
        else:
            v = _scalar(kind, value, path)
            if v in ("", None) or (v == 0 and kind == "i") or (v is False and kind == "b"):
                continue
            out[name] = v
    return out


def decode(body: bytes) -> dict:
    """A protobuf-encoded object (``k8s\\0`` + runtime.Unknown) as a JSON-shaped dict."""
    if not body.startswith(MAGIC):
        raise _unsupported("no k8s protobuf envelope")
    unknown = {n: v for n, _, v in fields(body[len(MAGIC):])}
    type_meta = {n: v for n, _, v in fields(unknown.get(1, b""))}
    api_version, kind = type_meta.get(1, b"").decode(), type_meta.get(2, b"").decode()
    schema = KINDS.get((api_version, kind)) or ANY_VERSION.get(kind)
    if schema is None:
        raise _unsupported(f"kind {api_version}/{kind}")
    obj = decode_message(unknown.get(2, b""), schema)
    return {"apiVersion": api_version, "kind": kind, **obj}

