"""Every installed plugin is listed with its arguments, and `validate` rejects a wrong argument of any of them."""
from __future__ import annotations

import json

import pytest

from engine.errors import ValidationError
from engine.plugins.base import RunOptions
from engine.plugins.registry import PluginRegistry
from engine.prepare import prepare

PLUGINS = ["approve", "assert", "command", "echo", "helm", "http", "istioctl", "kubectl", "pause", "prometheus",
           "shell", "wait"]

# (plugin, a `with` block that is wrong, words the error must contain)
WRONG = [
    ("kubectl", {"args": ["get"], "namspace": "x"}, "unknown key 'namspace'"),
    ("kubectl", {"apply": 42}, "with.apply"),
    ("istioctl", {"install": {"revison": "1-20-0"}}, "unknown key 'revison'"),
    ("istioctl", {"install": {"revision": "1.20.0"}}, "with.install.revision"),
    ("istioctl", {"tag_set": {"tag": "default"}}, "'revision' is a required property"),
    ("helm", {"install": {"release": "r"}}, "'chart' is a required property"),
    ("helm", {"rollback": {"release": "r", "revision": "two"}}, "with.rollback.revision"),
    ("wait", {"rollout": "deployment/web", "timeout": "5 minutes"}, "with.timeout"),
    ("wait", {"pods": "app=web", "min": -1}, "with.min"),
    ("wait", {"exists": "web"}, "with.exists"),
    ("http", {"url": "ftp://host/"}, "with.url"),
    ("http", {"url": "http://h/", "expect_status": "ok"}, "with.expect_status"),
    ("prometheus", {"url": "http://p:9090"}, "'query' is a required property"),
    ("prometheus", {"url": "http://p:9090", "query": "up", "min": "high"}, "with.min"),
    ("pause", {"prompt": "Go?", "on_timeout": "maybe"}, "with.on_timeout"),
    ("approve", {"prompt": "Go?", "timeout": "soon"}, "with.timeout"),
    ("command", {"argv": ["ls"]}, "unknown key 'argv'"),
    ("shell", {"script": ""}, "with.script"),
    ("assert", {"that": []}, "with.that"),
    ("echo", {"message": "hi"}, "unknown key 'message'"),
]
# Forms that are fine one by one but not together, or missing altogether.
WRONG_COMBINATION = [
    ("kubectl", {"args": ["get"], "delete": ["ns/a"]}, "give only one of args, apply, delete (got args and delete)"),
    ("helm", {"chart": "x"}, "unknown key 'chart'"),
    ("wait", {"rollout": "deployment/web", "duration": "1s"}, "(got duration and rollout)"),
    ("wait", {"namespace": "apps"}, "give one of duration, rollout, pods, exists, gone, jsonpath, command"),
    ("wait", {"jsonpath": "{.status.phase}"}, "'object' is a dependency of 'jsonpath'"),
    ("pause", {}, "give one of prompt, duration"),
]


def test_every_built_in_plugin_is_found_through_the_entry_point_group():
    assert set(PLUGINS) <= set(PluginRegistry().names())


def test_plugins_command_lists_every_plugin_with_its_arguments(project):
    text = project.run("plugins")
    assert text.rc == 0, text.err
    sections: dict[str, list[str]] = {}
    for line in text.out.splitlines():
        if line and not line.startswith(" "):
            sections[line.split(":")[0]] = []
        elif line.strip():
            sections[list(sections)[-1]].append(line.strip())
    assert set(PLUGINS) <= set(sections)
    registry = PluginRegistry()
    for name in PLUGINS:
        listed = {line.split(":")[0].split(" (")[0] for line in sections[name]}
        assert set(registry.get(name).schema.get("properties", {})) <= listed, name


def _book(tmp_path, plugin: str, args: dict):
    path = tmp_path / "book.yaml"
    path.write_text(json.dumps({"version": 1, "steps": [{"id": "s", "uses": plugin, "with": args}]}))
    return path


@pytest.mark.parametrize("plugin,args,words", WRONG + WRONG_COMBINATION,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(WRONG + WRONG_COMBINATION)])
def test_validate_rejects_a_wrong_argument(tmp_path, plugin, args, words):
    with pytest.raises(ValidationError) as caught:
        prepare(_book(tmp_path, plugin, args), options=RunOptions(dry_run=True))
    assert words in str(caught.value)
    assert "step 's'" in str(caught.value)


def test_validate_exits_2_with_a_located_one_line_error(project):
    project.write("book.yaml", """
        version: 1
        steps:
          - id: tag
            uses: istioctl
            with: {tag_set: {tag: default, revison: 1-20-0}}
    """)
    result = project.run("validate", "book.yaml")
    assert result.rc == 2
    assert result.err.strip().splitlines()[0].startswith("error: ")
    assert "book.yaml:5: step 'tag': istioctl: with.tag_set: unknown key 'revison'" in result.err
    assert "Traceback" not in result.err


# `undo_apply` was the argument form kubectl's natural rollback ran through; the undo is now the plugin's own
# hook reading what the apply saved, and a playbook that writes the form is refused, as any unknown key is.
UNDO_APPLY = [
    ("alone", "{undo_apply: {delete: [{kind: ConfigMap, metadata: {name: a}}]}}"),
    ("restore", "{undo_apply: {restore: /tmp/saved.yaml}}"),
    ("empty", "{undo_apply: {}}"),
    ("beside apply", "{apply: {kind: ConfigMap, metadata: {name: a}}, undo_apply: {restore: x.yaml}}"),
]


@pytest.mark.parametrize("with_", [w for _, w in UNDO_APPLY], ids=[i for i, _ in UNDO_APPLY])
def test_kubectl_refuses_the_undo_apply_form_a_playbook_cannot_write(project, with_):
    project.write("book.yaml", f"""
        version: 1
        steps:
          - id: undo
            uses: kubectl
            with: {with_}
    """)
    result = project.run("validate", "book.yaml")
    assert result.rc == 2, result.err
    assert "book.yaml:5: step 'undo': kubectl: with: unknown key 'undo_apply'" in result.err
    assert "allowed: args, apply, delete," in result.err
    assert "Traceback" not in result.err
