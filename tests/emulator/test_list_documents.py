"""`kubectl apply -f` of a `kind: List` (v1 List) document, with the real kubectl.

kubectl splits a List client-side and sends each item on its own (a GET, then a POST or PATCH per item);
the List itself never reaches the server. But it cannot ask the server to validate a List's fields (the
server's field validation is per kind), so it validates the items itself against /openapi/v2. There a custom
kind whose CRD schema keeps unknown fields must be published as the API server does, as a bare object:
listing only apiVersion, kind and metadata made kubectl refuse the item's `spec` as an unknown field.
"""
from __future__ import annotations

import json

import pytest

from .conftest import kubectl, needs_kubectl

LIST = {
    "apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
    "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-z"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "team-z"},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "team-z"},
         "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
        {"apiVersion": "networking.istio.io/v1beta1", "kind": "VirtualService",
         "metadata": {"name": "web", "namespace": "team-z"}, "spec": {"hosts": ["web"]}},
    ],
}


@needs_kubectl
@pytest.mark.parametrize("how", [["apply", "-f", "-"], ["apply", "--server-side", "-f", "-"],
                                 ["create", "-f", "-"]])
def test_a_v1_list_is_applied_item_by_item_custom_kinds_included(make_emulator, how):
    emu = make_emulator()
    done = kubectl(emu, *how, "-v=6", stdin=json.dumps(LIST))
    word = "serverside-applied" if "--server-side" in how else "created"
    assert done.stdout.splitlines() == [
        f"namespace/team-z {word}", f"deployment.apps/web {word}", f"poddisruptionbudget.policy/web {word}",
        f"virtualservice.networking.istio.io/web {word}"], done.stdout + done.stderr
    # What kubectl sent: one write per item, never the List.
    writes = [line.split("] ", 1)[1] for line in done.stderr.splitlines() if " POST " in line or " PATCH " in line]
    assert len(writes) == 4 and not any("/lists" in w for w in writes), writes
    got = kubectl(emu, "get", "deployment,pdb,virtualservice", "-n", "team-z", "-o", "name").stdout.split()
    assert got == ["deployment.apps/web", "poddisruptionbudget.policy/web", "virtualservice.networking.istio.io/web"]
    assert kubectl(emu, "get", "virtualservice", "web", "-n", "team-z", "-o",
                   "jsonpath={.spec.hosts[0]}").stdout == "web"


@needs_kubectl
def test_a_list_item_with_a_field_its_kind_does_not_have_is_still_refused(make_emulator):
    emu = make_emulator()
    bad = {**LIST, "items": [{**LIST["items"][2], "spec": {**LIST["items"][2]["spec"], "maxUnavailabel": 1}}]}
    refused = kubectl(emu, "apply", "-f", "-", stdin=json.dumps(bad), check=False)
    assert refused.returncode == 1
    assert 'unknown field "maxUnavailabel"' in refused.stderr


def test_openapi_v2_publishes_a_custom_kind_that_keeps_unknown_fields_as_a_bare_object(make_emulator):
    emu = make_emulator()
    doc = json.loads(kubectl(emu, "get", "--raw", "/openapi/v2").stdout)
    vs = doc["definitions"]["io.istio.networking.v1beta1.VirtualService"]
    assert vs == {"type": "object", "x-kubernetes-group-version-kind": [
        {"group": "networking.istio.io", "kind": "VirtualService", "version": "v1beta1"}]}
    # v3 still lists apiVersion, kind and metadata (kubectl explain reads it).
    v3 = json.loads(kubectl(emu, "get", "--raw", "/openapi/v3/apis/networking.istio.io/v1beta1").stdout)
    assert {"apiVersion", "kind", "metadata"} <= set(
        v3["components"]["schemas"]["io.istio.networking.v1beta1.VirtualService"]["properties"])
