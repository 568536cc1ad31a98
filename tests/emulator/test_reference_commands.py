"""Every kubectl command of the reference runbook (shared/reference/istio-zero-downtime-upgrade.md), run as
written against the demo cluster with a 1-20-0 control plane installed beside the default one."""
from __future__ import annotations

import os
import subprocess

from engine.emulator.cluster import DEMO
from engine.emulator.istio_objects import control_plane_objects

from .conftest import needs_kubectl, wait_until

pytestmark = needs_kubectl

GATEWAY = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: istio-ingressgateway-1-20-0
  namespace: istio-system
spec:
  replicas: 2
  selector:
    matchLabels:
      app: istio-ingressgateway
      istio.io/rev: 1-20-0
  template:
    metadata:
      labels:
        app: istio-ingressgateway
        istio.io/rev: 1-20-0
      annotations:
        sidecar.istio.io/inject: "true"
    spec:
      containers:
      - name: istio-proxy
        image: docker.io/istio/proxyv2:1.20.0
        ports:
        - containerPort: 8080
        - containerPort: 8443
"""

PEER_AUTHENTICATION = """apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata:
  name: default
  namespace: test-namespace
spec:
  mtls:
    mode: PERMISSIVE
"""

SCRIPT = r"""
set -euo pipefail
kubectl cluster-info
kubectl get istiooperator -n istio-system -o yaml > "$WORK/istio-backup.yaml"
kubectl get pods -n istio-system -l app=istiod --show-labels
kubectl get pods -A -o jsonpath='{range .items[*]}{.metadata.namespace}/{.metadata.name}: {.spec.containers[?(@.name=="istio-proxy")].image}{"\n"}{end}' | grep -v "^:" > "$WORK/proxy-versions-before.txt"
kubectl describe nodes | grep -A 5 "Allocated resources"
kubectl top pods -n istio-system
kubectl get pods -n istio-system -l app=istiod
kubectl get namespace test-namespace --show-labels
kubectl label namespace test-namespace istio-injection- istio.io/rev=1-20-0 --overwrite
kubectl rollout restart deployment -n test-namespace
deployments=$(kubectl get deployments -n test-namespace -o jsonpath='{.items[*].metadata.name}')
for deployment in $deployments; do
  kubectl rollout status deployment/"$deployment" -n test-namespace --timeout=300s
done
kubectl get pods -n test-namespace -o jsonpath='{range .items[*]}{.metadata.name}: {.spec.containers[?(@.name=="istio-proxy")].image}{"\n"}{end}' > "$WORK/after.txt"
kubectl logs -n test-namespace -l app=frontend -c istio-proxy --tail=100 | grep -i error || true
kubectl exec -n test-namespace deploy/frontend -c frontend -- curl -s http://backend:8080/health
kubectl get pods -n istio-system -l app=istio-ingressgateway --show-labels
kubectl apply -f - < "$WORK/gateway.yaml"
kubectl patch service istio-ingressgateway -n istio-system \
  --type='json' \
  -p='[{"op": "add", "path": "/spec/selector/istio.io~1rev", "value": "1-20-0"}]'
kubectl logs -n istio-system -l app=istio-ingressgateway,istio.io/rev=1-20-0 --tail=50
kubectl get namespaces -L istio-injection,istio.io/rev | grep -v "1-20-0"
kubectl get mutatingwebhookconfigurations -l app=sidecar-injector
kubectl get mutatingwebhookconfigurations istio-sidecar-injector-1-20-0 -o yaml > /dev/null
kubectl logs -n istio-system deploy/istiod-1-20-0 | grep -i "injection"
kubectl run test-pod --image=nginx --restart=Never -n staging-namespace
kubectl describe pod test-pod -n staging-namespace | grep -A 5 "istio-proxy"
kubectl get peerauthentication -A
kubectl apply -f - < "$WORK/peer-authentication.yaml"
namespaces=$(kubectl get namespaces -l istio.io/rev=1-20-0 -o jsonpath='{.items[*].metadata.name}')
for ns in $namespaces; do
  kubectl label namespace "$ns" istio.io/rev- --overwrite
  kubectl label namespace "$ns" istio-injection=enabled --overwrite
  kubectl rollout restart deployment -n "$ns"
  kubectl rollout status deployment -n "$ns" --timeout=300s
done
kubectl delete deployment istio-ingressgateway -n istio-system
kubectl delete configmap istio -n istio-system
kubectl delete configmap istio-sidecar-injector -n istio-system
kubectl delete mutatingwebhookconfiguration istio-sidecar-injector
kubectl delete validatingwebhookconfiguration istiod-default-validator
"""


def _istiod_ready(emu) -> int:
    istiod = emu.call(lambda rt: rt.api.store.get("deployments.apps", "istio-system", "istiod-1-20-0"))
    return ((istiod or {}).get("status") or {}).get("readyReplicas", 0)


def test_reference_runbook_kubectl_commands_all_succeed(make_emulator, tmp_path):
    emu = make_emulator(str(DEMO), readiness_delay=0.05)
    emu.call(lambda rt: [rt.create_object(o) for o in control_plane_objects("1-20-0", "1.20.0", gateway=False)])
    wait_until(lambda: _istiod_ready(emu))
    (tmp_path / "gateway.yaml").write_text(GATEWAY)
    (tmp_path / "peer-authentication.yaml").write_text(PEER_AUTHENTICATION)
    proc = subprocess.run(["bash", "-c", SCRIPT], env={**os.environ, **emu.env(), "WORK": str(tmp_path)},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    # test-namespace's two deployments migrated one by one, then rolled back together.
    assert out.count("successfully rolled out") == 4
    after = (tmp_path / "after.txt").read_text().splitlines()
    assert len(after) == 4 and all(line.endswith("docker.io/istio/proxyv2:1.20.0") for line in after)
    assert "kind: IstioOperator" in (tmp_path / "istio-backup.yaml").read_text()
    assert "Allocated resources" in out and "OK" in out
    assert 'validatingwebhookconfiguration.admissionregistration.k8s.io "istiod-default-validator" deleted' in out
    assert emu.downtime_report()["test-namespace/frontend"] == []
