"""The protobuf bodies kubectl's typed client sends, decoded field by field, and what is refused."""
import pytest

from engine.emulator.errors import ApiError
from engine.emulator.protobuf import decode


def _field(num: int, payload: bytes) -> bytes:
    return bytes([num << 3 | 2, len(payload)]) + payload


def _envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return b"k8s\x00" + _field(1, type_meta) + _field(2, raw)


def test_configmap_with_labels_and_data():
    meta = _field(1, b"cfg") + _field(3, b"apps") + _field(11, _field(1, b"team") + _field(2, b"blue"))
    raw = _field(1, meta) + _field(2, _field(1, b"k") + _field(2, b"v"))
    assert decode(_envelope("v1", "ConfigMap", raw)) == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "cfg", "namespace": "apps", "labels": {"team": "blue"}}, "data": {"k": "v"}}


def test_unmapped_non_empty_field_is_refused_not_dropped():
    raw = _field(1, _field(1, b"cfg")) + _field(9, b"surprise")
    with pytest.raises(ApiError) as err:
        decode(_envelope("v1", "ConfigMap", raw))
    assert err.value.code == 415 and "field 9" in err.value.message


def test_unknown_kind_is_refused():
    with pytest.raises(ApiError) as err:
        decode(_envelope("policy/v1", "Eviction", b""))
    assert err.value.code == 415 and "policy/v1/Eviction" in err.value.message
