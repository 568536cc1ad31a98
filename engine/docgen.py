"""Generating the reference docs from their sources of truth, so docs cannot drift.

`python -m engine.docgen` rewrites docs/format-reference.md (from schemas/playbook.schema.json),
docs/cli.md (from the click commands) and schemas/playbook.draft-07.schema.json (the same schema in the draft
editors read); tests fail when the checked-in files differ from what this generates.
"""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

import click

from .schema import playbook_schema

DOCS = Path(__file__).resolve().parent.parent / "docs"


def _type(sub: dict | bool, defs: dict) -> str:
    if not isinstance(sub, dict):
        return "any"
    if "$ref" in sub:
        name = sub["$ref"].rsplit("/", 1)[-1]
        target = defs.get(name, {})
        if "type" in target or "oneOf" in target or "enum" in target:
            return _type(target, defs) if name not in ("step", "action", "input") else name
        return name
    if "oneOf" in sub:
        return " or ".join(_type(s, defs) for s in sub["oneOf"])
    if "enum" in sub:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in sub["enum"])
    if "const" in sub:
        return f"`{json.dumps(sub['const'])}`"
    kind = sub.get("type", "any")
    if kind == "array" and "items" in sub:
        return f"list of {_type(sub['items'], defs)}"
    if isinstance(kind, list):
        return " or ".join(kind)
    return kind


def _desc(sub: dict | bool, defs: dict) -> str:
    if not isinstance(sub, dict):
        return ""
    text = sub.get("description", "")
    if not text and "$ref" in sub:
        text = defs.get(sub["$ref"].rsplit("/", 1)[-1], {}).get("description", "")
    extra = []
    if "pattern" in sub:
        extra.append(f"pattern `{sub['pattern']}`")
    if "$ref" in sub and "pattern" in defs.get(sub["$ref"].rsplit("/", 1)[-1], {}):
        extra.append(f"pattern `{defs[sub['$ref'].rsplit('/', 1)[-1]]['pattern']}`")
    if "minimum" in sub:
        extra.append(f"minimum {sub['minimum']}")
    return " ".join([text] + ([f"({', '.join(extra)})"] if extra else [])).strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(title: str, schema: dict, defs: dict) -> list[str]:
    required = set(schema.get("required", []))
    lines = [f"## {title}", ""]
    if schema.get("description"):
        lines += [schema["description"], ""]
    lines += ["| key | type | required | meaning |", "| --- | --- | --- | --- |"]
    for key, sub in schema.get("properties", {}).items():
        lines.append(f"| `{key}` | {_type(sub, defs)} | {'yes' if key in required else ''} | "
                     f"{_cell(_desc(sub, defs))} |")
    return lines + [""]


def format_reference() -> str:
    """docs/format-reference.md: every key of the playbook format, from the JSON Schema."""
    schema = playbook_schema()
    defs = schema["$defs"]
    lines = ["# Playbook format reference", "",
             "Generated from `schemas/playbook.schema.json` by `python -m engine.docgen`; do not edit by hand.",
             "See `docs/authoring.md` for a guided tour and `docs/plugins.md` for each plugin's `with` arguments.", ""]
    lines += _table("Top level", schema, defs)
    lines += _table("Input (`inputs.<name>`)", defs["input"], defs)
    lines += _table("Step (`steps[]`)", defs["step"], defs)
    lines += ["A step has exactly one of `uses` (a plugin call) or `steps` (a group). A group cannot have `uses`, "
              "`with`, `rollback`, `retries`, `until`, `delay` or `backoff`; its `timeout` is the default of its "
              "inner steps and its `when`, `confirm` and `continue_on_error` apply to each copy.", ""]
    lines += _table("Rollback action (`rollback`)", defs["action"], defs)
    lines += _table("Defaults (`defaults`)", schema["properties"]["defaults"], defs)
    lines += ["## Durations", "", defs["duration"]["description"], ""]
    return "\n".join(lines)


def _command_doc(name: str, cmd: click.Command, parent: click.Context, title: str | None = None) -> list[str]:
    ctx = click.Context(cmd, info_name=name, parent=parent)
    lines = [f"## `playbook {title or name}`", "", inspect.cleandoc(cmd.help or ""), "", "```", cmd.get_usage(ctx).strip(), "```", ""]
    rows = []
    for param in cmd.get_params(ctx):
        if isinstance(param, click.Option):
            record = param.get_help_record(ctx)
            if record:
                rows.append(f"| `{record[0]}` | {_cell(record[1])} |")
    if rows:
        lines += ["| option | meaning |", "| --- | --- |"] + rows + [""]
    return lines


def cli_reference() -> str:
    """docs/cli.md: every command and option, from the click definitions."""
    from .cli import cli
    # The group's context settings (help as `-h, --help`, the width) reach every command's context from here.
    root = click.Context(cli, info_name="playbook", **cli.context_settings)
    lines = ["# CLI reference", "", "Generated from the click commands by `python -m engine.docgen`; do not edit by hand.",
             "", inspect.cleandoc(cli.help or ""), "",
             "Exit codes: 0 succeeded; 1 a step failed and the rollback completed; 2 the playbook, a variable or the "
             "command line is invalid (nothing ran); 3 a rollback action failed too (manual attention needed); "
             "4 stopped before a step that needs confirmation (no terminal, no `--yes`; nothing rolled back); "
             "130 interrupted (after rolling back).", ""]
    for name in sorted(cli.list_commands(root)):
        cmd = cli.get_command(root, name)
        lines += _command_doc(name, cmd, root)
        if isinstance(cmd, click.Group):  # a command group (`playbook fleet`): each of its commands too
            group = click.Context(cmd, info_name=name, parent=root)
            for sub in sorted(cmd.list_commands(group)):
                lines += _command_doc(sub, cmd.get_command(group, sub), group, title=f"{name} {sub}")
    return "\n".join(lines)


GENERATED = {"format-reference.md": format_reference, "cli.md": cli_reference}


def editor_schema() -> str:
    """schemas/playbook.draft-07.schema.json: the playbook schema in the draft editors' YAML language servers
    read (yaml-language-server documents draft 7): `$defs` become `definitions`, nothing else changes (the
    schema uses no keyword newer than draft 7)."""
    schema = playbook_schema()

    def convert(node):
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "$schema":
                    out[key] = "http://json-schema.org/draft-07/schema#"
                elif key == "$id":
                    continue  # the file is found by path; an $id would send a server to a URL that does not serve it
                elif key == "$defs":
                    out["definitions"] = convert(value)
                elif key == "$ref" and isinstance(value, str):
                    out[key] = value.replace("#/$defs/", "#/definitions/")
                else:
                    out[key] = convert(value)
            return out
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node
    return json.dumps(convert(schema), indent=2, ensure_ascii=False) + "\n"


SCHEMAS = DOCS.parent / "schemas"
GENERATED_SCHEMAS = {"playbook.draft-07.schema.json": editor_schema}


def main(argv: list[str] | None = None) -> int:
    import argparse
    parser = argparse.ArgumentParser(prog="python -m engine.docgen", description=(
        "Rewrite docs/format-reference.md (from schemas/playbook.schema.json), docs/cli.md (from the click "
        "commands) and schemas/playbook.draft-07.schema.json (the schema for editors)."))
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    targets = {**{DOCS / n: fn for n, fn in GENERATED.items()},
               **{SCHEMAS / n: fn for n, fn in GENERATED_SCHEMAS.items()}}
    if args.check:
        stale = [path for path, fn in targets.items()
                 if not path.exists() or path.read_text(encoding="utf-8") != fn()]
        for path in stale:
            print(f"{path.relative_to(DOCS.parent)} is out of date: run python -m engine.docgen", file=sys.stderr)
        return 1 if stale else 0
    for name, fn in GENERATED_SCHEMAS.items():
        (SCHEMAS / name).write_text(fn(), encoding="utf-8")
        print(f"wrote schemas/{name}", file=sys.stderr)
    for name, fn in GENERATED.items():
        (DOCS / name).write_text(fn(), encoding="utf-8")
        print(f"wrote docs/{name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
