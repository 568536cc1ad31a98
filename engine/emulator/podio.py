"""What stands in for processes the emulator does not run: container logs and ``kubectl exec`` answers."""
from __future__ import annotations

from . import injection
from . import istio_objects as io


def fake_log(pod: dict, container: str) -> list[str]:
    """Plausible log lines for a container (there is no process behind it)."""
    meta = pod["metadata"]
    started = (pod.get("status") or {}).get("startTime") or meta.get("creationTimestamp")
    t = started.replace("Z", ".000000Z") if started else "1970-01-01T00:00:00.000000Z"
    image = next((c.get("image", "") for c in pod["spec"].get("containers", []) + pod["spec"].get(
        "initContainers", []) if c["name"] == container), "")
    rev = injection.proxy_revision(pod) or "default"
    if container == "istio-proxy":
        return [f"{t}\tinfo\tFLAG: --concurrency=\"2\"",
                f"{t}\tinfo\tVersion {image.rsplit(':', 1)[-1]}-emulated",
                f"{t}\tinfo\txdsproxy\tInitializing with upstream address \"{io.istiod_name(rev)}."
                f"{io.ISTIO_NAMESPACE}.svc:15012\" and cluster \"Kubernetes\"",
                f"{t}\tinfo\tads\tADS: new connection for node:{meta['name']}.{meta['namespace']}-1",
                f"{t}\tinfo\tEnvoy proxy is ready"]
    if container == "discovery":
        return [f"{t}\tinfo\tFLAG: --monitoringAddr=\":15014\"",
                f"{t}\tinfo\tstarting discovery service, revision {rev}",
                f"{t}\tinfo\tinjection\tsidecar injection webhook ready (revision {rev})",
                f"{t}\tinfo\tads\tAll caches have been synced up"]
    if container == "istio-init":
        return [f"{t}\tinfo\tIstio iptables environment:", "COMMIT", f"{t}\tinfo\tRunning iptables-restore"]
    return [f"[{t}] emulated container {container} ({image}) started",
            f"[{t}] listening on :8080",
            f"[{t}] GET /health 200"]

def fake_exec(pod: dict, container: str, command: list[str]) -> tuple[int, str]:
    """An answer for ``kubectl exec``: health probes succeed, Prometheus queries answer from /metrics."""
    text = " ".join(command)
    if not command:
        return 1, ""
    if "api/v1/query" in text:
        return 0, '{"status":"success","data":{"resultType":"vector","result":[]}}\n'
    if "netstat" in text:
        return 0, ("Active Internet connections (only servers)\nProto Recv-Q Send-Q Local Address "
                   "Foreign Address State PID/Program name\ntcp 0 0 0.0.0.0:15021 0.0.0.0:* LISTEN 1/envoy\n"
                   "tcp 0 0 0.0.0.0:8080 0.0.0.0:* LISTEN 1/envoy\n")
    if command[0] in ("curl", "wget"):
        return 0, "OK\n" if "health" in text else '{"status": "ok"}\n'
    if command[0] in ("echo",):
        return 0, " ".join(command[1:]) + "\n"
    if command[0] in ("true", "sh", "bash", "ls", "cat", "env", "hostname"):
        return 0, f"{pod['metadata']['name']}\n" if command[0] == "hostname" else ""
    return 0, ""
