"""`http`: a health probe: one request, the status (and optionally the body) checked against expectations.

Repeat it with the step's own `retries`/`delay` or `until`; each request is bounded by its own timeout
and by what is left of the step's.
"""
from __future__ import annotations

import json
import re
from typing import Any

from ..api import Outcome, RunOptions, StepContext, StepPlugin, format_duration, parse_duration
from .wait import DURATION

_SECRET_HEADER = re.compile(r"^(authorization|proxy-authorization|x-api-key|cookie|x-auth-token)$", re.IGNORECASE)
MAX_BODY = 1 << 20  # a probe reads at most 1 MiB of body


def expected_statuses(value: Any) -> list[int] | None:
    """The accepted statuses; None means any 2xx."""
    if value is None:
        return None
    return [int(v) for v in (value if isinstance(value, list) else [value])]


def status_ok(status: int, expected: list[int] | None) -> bool:
    return 200 <= status < 300 if expected is None else status in expected


def masked_headers(headers: dict) -> dict:
    return {k: ("***" if _SECRET_HEADER.match(str(k)) else v) for k, v in (headers or {}).items()}


class HttpPlugin(StepPlugin):
    name = "http"
    summary = ("HTTP probe: {url, method, headers, body|json, expect_status: 200|[...], expect_body: REGEX, "
               "timeout}; repeat with the step's retries/delay.")
    schema = {
        "type": "object",
        "required": ["url"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": "^https?://", "description": "http:// or https:// URL."},
            "method": {"type": "string", "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                       "default": "GET"},
            "headers": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
            "body": {"type": "string", "description": "Request body as text."},
            "json": {"description": "Request body as JSON (sets Content-Type)."},
            "expect_status": {"type": ["integer", "array"], "oneOf": [{"type": "integer"}, {"type": "array", "minItems": 1,
                                                              "items": {"type": "integer"}}],
                              "description": "Accepted status code(s); default any 2xx."},
            "expect_body": {"type": "string", "description": "Regular expression the body must contain."},
            "timeout": {**DURATION, "description": "Per request (default 10s)."},
            "insecure": {"type": "boolean", "description": "Skip TLS verification."},
            "ca_file": {"type": "string", "description": "CA bundle for TLS verification."},
        },
    }
    example = "with: {url: \"http://gateway.example/healthz\", expect_status: 200, expect_body: ok}"

    def describe(self, args: dict, options: RunOptions) -> str:
        want = args.get("expect_status")
        expect = f"status {want}" if want is not None else "a 2xx status"
        if args.get("expect_body"):
            expect += f" and a body matching /{args['expect_body']}/"
        headers = masked_headers(args.get("headers") or {})
        head = "".join(f" -H '{k}: {v}'" for k, v in headers.items())
        return f"{args.get('method', 'GET')} {args['url']}{head}, expect {expect}"

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        # Here, not at the top: urllib.request pulls in http.client and ssl (tens of ms), which validate and
        # plans never need.
        import ssl
        import urllib.error
        import urllib.request
        method = args.get("method", "GET")
        headers = {str(k): str(v) for k, v in (args.get("headers") or {}).items()}
        data = None
        if "json" in args:
            data = json.dumps(args["json"]).encode()
            headers.setdefault("Content-Type", "application/json")
        elif "body" in args:
            data = str(args["body"]).encode()
        timeout = parse_duration(args.get("timeout", 10))
        left = ctx.remaining()
        if left is not None:
            timeout = max(0.1, min(timeout, left))
        context = None
        if args["url"].startswith("https://"):
            context = ssl.create_default_context(cafile=args.get("ca_file"))
            if args.get("insecure"):
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        request = urllib.request.Request(args["url"], data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as resp:
                status, body, resp_headers = resp.status, resp.read(MAX_BODY), dict(resp.headers)
        except urllib.error.HTTPError as err:
            status, body, resp_headers = err.code, err.read(MAX_BODY), dict(err.headers or {})
        except (urllib.error.URLError, OSError, ValueError) as err:
            reason = getattr(err, "reason", err)
            if "timed out" in str(reason):
                return Outcome(ok=False, timed_out=True,
                               message=f"{method} {args['url']}: no answer within {format_duration(timeout)}")
            return Outcome(ok=False, message=f"{method} {args['url']}: {reason}")
        text = body.decode("utf-8", errors="replace")
        parsed = None
        if text.strip()[:1] in ("{", "["):
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
        outputs = {"status_code": status, "headers": resp_headers}  # `status` is the step's own
        expected = expected_statuses(args.get("expect_status"))
        problems = []
        if not status_ok(status, expected):
            problems.append(f"status {status}, want {expected if expected else '2xx'}")
        if args.get("expect_body") and not re.search(args["expect_body"], text):
            problems.append(f"body does not match /{args['expect_body']}/ (got {text.strip()[:80]!r})")
        message = f"{method} {args['url']}: " + ("; ".join(problems) if problems else f"status {status}")
        return Outcome(ok=not problems, message=message, rc=status, stdout=text, json=parsed, outputs=outputs)
