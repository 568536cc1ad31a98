"""`prometheus`: an instant PromQL query whose every series must lie within `min`/`max`: a metric gate.

Like Flagger's threshold range and Argo Rollouts' analysis: e.g. the success rate by revision must be at
least 99 (%), the p99 latency at most 500 (ms). No data fails the gate unless `no_data: pass`.
"""
from __future__ import annotations

import json
import math
from typing import Any

from ..api import Outcome, RunOptions, StepContext, StepPlugin, format_duration, parse_duration
from .http import masked_headers
from .wait import DURATION


def series_of(data: dict) -> list[tuple[dict, float]]:
    """(labels, value) for each series of an instant query's `data` (vector, scalar or matrix's last point)."""
    kind, result = data.get("resultType"), data.get("result")
    if kind in ("scalar", "string"):
        return [({}, float(result[1]))]
    out = []
    for item in result or []:
        point = item.get("value") or (item.get("values") or [[0, "NaN"]])[-1]
        out.append((item.get("metric") or {}, float(point[1])))
    return out


def labels_text(labels: dict) -> str:
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    return "{" + ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) + "}" if shown else "{}"


def judge(series: list[tuple[dict, float]], low: float | None, high: float | None) -> list[str]:
    """Why each failing series fails (empty when all pass)."""
    bad = []
    for labels, value in series:
        if math.isnan(value):
            bad.append(f"{labels_text(labels)} is NaN (no traffic in the window?)")
        elif low is not None and value < low:
            bad.append(f"{labels_text(labels)} = {value:g} < min {low:g}")
        elif high is not None and value > high:
            bad.append(f"{labels_text(labels)} = {value:g} > max {high:g}")
    return bad


class PrometheusPlugin(StepPlugin):
    name = "prometheus"
    summary = ("Metric gate: {url, query: PROMQL, min, max, no_data: fail|pass}; every series of the instant "
               "query must lie within [min, max].")
    schema = {
        "type": "object",
        "required": ["url", "query"],
        "additionalProperties": False,
        "properties": {
            "url": {"type": "string", "pattern": "^https?://", "description": "Prometheus base URL."},
            "query": {"type": "string", "minLength": 1, "description": "PromQL instant query."},
            "min": {"type": "number", "description": "Every series must be at least this."},
            "max": {"type": "number", "description": "Every series must be at most this."},
            "no_data": {"type": "string", "enum": ["fail", "pass"], "default": "fail",
                        "description": "What an empty result means."},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "timeout": {**DURATION, "description": "Per query (default 10s)."},
        },
    }
    example = ("with: {url: \"http://prometheus:9090\", query: \"histogram_quantile(0.99, sum(rate("
               "istio_request_duration_milliseconds_bucket[5m])) by (le, source_version))\", max: 500}")

    def describe(self, args: dict, options: RunOptions) -> str:
        bounds = []
        if "min" in args:
            bounds.append(f">= {args['min']}")
        if "max" in args:
            bounds.append(f"<= {args['max']}")
        want = " and ".join(bounds) or "any value"
        head = "".join(f" -H '{k}: {v}'" for k, v in masked_headers(args.get("headers") or {}).items())
        return f"query {args['url']}{head}: {args['query']}  — every series {want}"

    def run(self, args: dict, ctx: StepContext) -> Outcome:
        # Here, not at the top: urllib.request pulls in http.client and ssl (tens of ms), which validate and
        # plans never need.
        import urllib.error
        import urllib.parse
        import urllib.request
        url = args["url"].rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": args["query"]})
        timeout = parse_duration(args.get("timeout", 10))
        left = ctx.remaining()
        if left is not None:
            timeout = max(0.1, min(timeout, left))
        request = urllib.request.Request(url, headers={str(k): str(v) for k, v in (args.get("headers") or {}).items()})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                text = resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as err:
            text = err.read().decode("utf-8", errors="replace")
            try:
                detail = json.loads(text).get("error") or text
            except ValueError:
                detail = text
            return Outcome(ok=False, rc=err.code, stdout=text, message=f"prometheus: HTTP {err.code}: {detail}")
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            if "timed out" in str(reason):
                return Outcome(ok=False, timed_out=True,
                               message=f"prometheus: no answer within {format_duration(timeout)}")
            return Outcome(ok=False, message=f"prometheus at {args['url']}: {reason}")
        try:
            body = json.loads(text)
            series = series_of(body["data"])
        except (ValueError, KeyError, TypeError, IndexError) as err:
            return Outcome(ok=False, stdout=text, message=f"prometheus: unexpected answer ({err}): {text[:120]}")
        outputs: dict[str, Any] = {"series": [{"labels": lab, "value": val} for lab, val in series],
                                   "value": series[0][1] if series else None}
        if not series:
            ok = args.get("no_data", "fail") == "pass"
            return Outcome(ok=ok, stdout=text, json=body, outputs=outputs,
                           message="no data" + ("" if ok else " (the gate needs data: is traffic flowing? "
                                                "set no_data: pass to allow)"))
        bad = judge(series, args.get("min"), args.get("max"))
        shown = ", ".join(f"{labels_text(lab)}={val:g}" for lab, val in series[:6])
        message = ("; ".join(bad) if bad else f"within bounds: {shown}")
        return Outcome(ok=not bad, stdout=text, json=body, outputs=outputs, message=message)
