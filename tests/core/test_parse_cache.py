"""The parse cache: a large playbook is parsed once per text and engine, an edit is always seen, a damaged or
foreign entry is never trusted, and nothing that failed a check is kept."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from engine import parse_cache
from engine.errors import ValidationError
from engine.loader import load_yaml_text
from engine.model import load_playbook


def large_playbook(steps: int = 700, bad: int | None = None) -> str:
    """A chain of `steps` echo steps, more than parse_cache.MIN_CHARS of text; step `bad` misspells a need."""
    lines = ["version: 1", "name: large", "inputs:", "  rev: {type: string, default: 1-20-0}", "steps:"]
    for i in range(steps):
        lines.append(f"  - id: step-{i}")
        if i:
            lines.append(f"    needs: [step-{i - 1 if i != bad else 'nope'}]")
        lines += ["    uses: echo", f'    with: {{msg: "moving namespace-{i} to {{{{ rev }}}} (step {i} of {steps})"}}']
    text = "\n".join(lines) + "\n"
    assert len(text) >= parse_cache.MIN_CHARS
    return text


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("PLAYBOOK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("PLAYBOOK_NO_CACHE", raising=False)
    return tmp_path / "cache" / "parsed"


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.pickle")) if cache.is_dir() else []


def test_a_large_playbook_is_kept_after_its_checks_and_read_back_the_same(tmp_path, cache):
    path = tmp_path / "large.yaml"
    text = large_playbook()
    path.write_text(text)
    first = load_playbook(path)
    assert [p.name for p in _entries(cache)] == [f"{parse_cache.key_of(text)}.pickle"]
    again = parse_cache.lookup(text)
    assert again == load_yaml_text(text, str(path))
    assert again["steps"][5].line == first.doc["steps"][5].line and again["steps"][5].key_lines == {
        "id": 25, "needs": 26, "uses": 27, "with": 28}
    second = load_playbook(path)
    assert [(s.id, s.line, s.needs, s.args) for s in second.steps] == [(s.id, s.line, s.needs, s.args)
                                                                      for s in first.steps]


def test_an_edit_is_seen_and_its_mistake_reported_with_file_and_line(tmp_path, cache):
    path = tmp_path / "large.yaml"
    path.write_text(large_playbook())
    load_playbook(path)
    path.write_text(large_playbook(bad=300))  # same size class, one need misspelt
    env = {**os.environ, "PLAYBOOK_CACHE_DIR": str(cache.parent)}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "validate", str(path)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert f"{path}:1206: step 'step-300': needs unknown step 'step-nope'" in done.stderr, done.stderr


def test_a_document_that_fails_a_check_is_never_kept(tmp_path, cache):
    path = tmp_path / "large.yaml"
    path.write_text(large_playbook().replace("    uses: echo\n", "    uses: echo\n    retries: many\n", 1))
    with pytest.raises(ValidationError) as err:
        load_playbook(path)
    assert "retries" in str(err.value) and f"{path}:" in str(err.value)
    assert _entries(cache) == []


def test_a_small_playbook_is_not_cached_and_the_cache_can_be_turned_off(tmp_path, cache, monkeypatch):
    small = tmp_path / "small.yaml"
    small.write_text(large_playbook()[:2000].rsplit("\n  - id:", 1)[0] + "\n")
    load_playbook(small)
    assert _entries(cache) == []
    monkeypatch.setenv("PLAYBOOK_NO_CACHE", "1")
    large = tmp_path / "large.yaml"
    large.write_text(large_playbook())
    load_playbook(large)
    assert _entries(cache) == []


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_a_damaged_or_foreign_entry_is_ignored_and_never_run(tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "large.yaml"
    text = large_playbook()
    path.write_text(text)
    entry = cache / f"{parse_cache.key_of(text)}.pickle"
    cache.mkdir(parents=True)
    entry.write_bytes(pickle.dumps({"steps": [_Payload()]}))
    assert parse_cache.lookup(text) is None
    assert not (tmp_path / "pwned").exists()
    assert len(load_playbook(path).steps) == 700  # parsed again, and the entry replaced by a good one
    assert parse_cache.lookup(text) == load_yaml_text(text, str(path))
    entry.write_bytes(b"\x80\x05 not a pickle")
    assert parse_cache.lookup(text) is None
    assert len(load_playbook(path).steps) == 700


def test_the_key_changes_with_the_engine_that_reads_the_text(monkeypatch):
    text = large_playbook()
    before = parse_cache.key_of(text)
    monkeypatch.setattr(parse_cache, "_salt", None)
    monkeypatch.setattr(parse_cache, "__version__", "999.0")
    assert parse_cache.key_of(text) != before
    monkeypatch.setattr(parse_cache, "_salt", None)
    monkeypatch.setattr(parse_cache, "_SOURCES", parse_cache._SOURCES[1:])  # as if loader.py were edited
    assert parse_cache.key_of(text) != before
    assert parse_cache.key_of(text + "\n# a comment") != parse_cache.key_of(text)
