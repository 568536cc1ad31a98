"""A tiny client of the change-management API: JSON over HTTP, a bearer token from the environment."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Mapping


class TicketError(Exception):
    """The ticket API refused or did not answer."""


def call(api: str, method: str, path: str, *, body: Any = None, token: str | None = None,
         timeout: float = 30.0) -> Any:
    """One request to the API; the parsed JSON answer. Raises TicketError."""
    url = api.rstrip("/") + path
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=max(timeout, 0.1)) as resp:
            text = resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        raise TicketError(f"{method} {url}: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise TicketError(f"{method} {url}: {getattr(err, 'reason', err)}") from None
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        raise TicketError(f"{method} {url}: the answer is not JSON") from None


def token_from(env: Mapping[str, str], name: str | None) -> str | None:
    """The API token from the environment variable `name` (never from the playbook itself)."""
    return env.get(name) if name else None
