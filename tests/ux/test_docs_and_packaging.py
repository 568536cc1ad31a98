"""Docs and packaging a new user meets: -h in the CLI reference, the runs-dir variable, a docgen that prints
help instead of rewriting files, no link to a file the repository lacks, an SPDX licence, and a README that
names the prerequisites and the Debian packages CI installs."""
from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_reference_lists_h_beside_help():
    text = (ROOT / "docs" / "cli.md").read_text()
    assert "| `-h, --help` | Show this message and exit. |" in text
    assert "| `--help` |" not in text


def test_runs_dir_help_names_its_environment_variable():
    text = (ROOT / "docs" / "cli.md").read_text()
    run = text[text.index("## `playbook run`"):]
    run = run[:run.index("\n## ", 5)]
    assert "PLAYBOOK_RUNS_DIR" in next(line for line in run.splitlines() if "--runs-dir" in line)


def test_docgen_help_prints_usage_and_writes_nothing(tmp_path):
    before = {p: p.stat().st_mtime_ns for p in (ROOT / "docs").glob("*.md")}
    done = subprocess.run([sys.executable, "-m", "engine.docgen", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and "usage: python -m engine.docgen" in done.stdout
    assert {p: p.stat().st_mtime_ns for p in (ROOT / "docs").glob("*.md")} == before
    assert "wrote" not in done.stderr


def test_docs_link_only_to_files_in_the_repository():
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for path in re.findall(r"`((?:reference|docs|playbooks|schemas)/[\w./-]+\.(?:md|yaml|json))`", doc.read_text()):
            assert (ROOT / path).exists() or "*" in path, f"{doc.name} points at {path}, which is not in the repository"


def test_the_licence_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"


def test_the_readme_names_kubectl_and_the_debian_packages_ci_installs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "kubectl" in readme.split("## Run the tests")[0]
    for package in ("prometheus", "chromium", "chromium-driver"):
        assert package in ci
        assert f"`{package}`" in readme
