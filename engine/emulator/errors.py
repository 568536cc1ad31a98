"""API errors as the Kubernetes API server reports them: an HTTP code and a ``metav1.Status`` body."""
from __future__ import annotations

from typing import Any

from .resources import ResourceType


class ApiError(Exception):
    """An error answer of the emulated API; ``status()`` is its JSON body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict[str, Any]:
        # metav1.Status field order (the API server's JSON follows it): details come before code.
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rt: ResourceType, name: str) -> dict:
    """metav1.StatusDetails in field order: name, group, kind (the resource), uid, causes."""
    if rt.group:
        return {"name": name, "group": rt.group, "kind": rt.plural}
    return {"name": name, "kind": rt.plural}


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def already_exists(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has '
                                     "been modified; please apply your changes to the latest version and try again",
                    _details(rt, name))


def invalid(rt: ResourceType, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """422 Invalid; ``causes`` are (field, reason, message) as in ``field.ErrorList``."""
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    text = ", ".join(f"{f}: {m}" for f, _, m in causes)
    msg = f'{kind} "{name}" is invalid: {text}' if len(causes) == 1 else f'{kind} "{name}" is invalid: [{text}]'
    details: dict[str, Any] = {"name": name}
    if rt.group:
        details["group"] = rt.group
    details["kind"] = rt.kind
    details["causes"] = [{"reason": r, "message": m, "field": f} for f, r, m in causes]
    return ApiError(422, "Invalid", msg, details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Expired", message)


def namespace_not_found(name: str) -> ApiError:
    return ApiError(404, "NotFound", f'namespaces "{name}" not found', {"name": name, "kind": "namespaces"})


def forbidden_terminating(rt: ResourceType, name: str, namespace: str) -> ApiError:
    return ApiError(403, "Forbidden", f'{rt.qualified} "{name}" is forbidden: unable to create new content in '
                                      f"namespace {namespace} because it is being terminated",
                    {"name": name, "kind": rt.plural, "causes": [{"reason": "NamespaceTerminating",
                     "message": f"namespace {namespace} is being terminated", "field": "metadata.namespace"}]})


def no_such_path() -> ApiError:
    """404 for a URL the server does not serve (not a missing object); its details are empty, not absent."""
    return ApiError(404, "NotFound", "the server could not find the requested resource", {})


def unsupported_media_type(accepted: list[str]) -> ApiError:
    return ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                    f"media types include: {', '.join(accepted)}")


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
