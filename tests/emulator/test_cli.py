"""`emulate`: around a command it exits with the command's code and prints the downtime report."""
from __future__ import annotations

import subprocess
import sys

import yaml

from .conftest import SMALL


def _emulate(tmp_path, *args, timeout=60):
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(SMALL))
    return subprocess.run([sys.executable, "-m", "engine.emulator.cli", "--cluster", str(cluster), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_runs_a_command_with_the_emulator_env_and_reports(tmp_path):
    script = ("import os, urllib.request, json; "
              "print(open(os.environ['KUBECONFIG']).read().count('emulator') > 0); "
              "url = os.environ['PLAYBOOK_EMULATOR_URL'] + '/version'; "
              "print(json.load(urllib.request.urlopen(url))['gitVersion']); "
              "print(os.environ['PATH'].split(os.pathsep)[0].endswith('bin'))")
    proc = _emulate(tmp_path, "--", sys.executable, "-c", script)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "v1.32.0", "True"]
    assert "Downtime report:" in proc.stderr and "(zero downtime)" in proc.stderr


def test_exit_code_of_the_command_is_kept_and_state_saved(tmp_path):
    state = tmp_path / "state.yaml"
    proc = _emulate(tmp_path, "--save-state", str(state), "--", sys.executable, "-c", "raise SystemExit(3)")
    assert proc.returncode == 3
    assert any(o["kind"] == "Deployment" for o in yaml.safe_load(state.read_text())["items"])


def test_bad_cluster_file_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodez: 3\n")
    proc = subprocess.run([sys.executable, "-m", "engine.emulator.cli", "--cluster", str(bad), "--", "true"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown key(s) nodez" in proc.stderr and "Traceback" not in proc.stderr


def test_an_object_the_api_refuses_is_a_usage_error_naming_it(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"objects": [{"apiVersion": "v1", "kind": "Namespace",
                                                "metadata": {"name": "Bad_Name"}}]}))
    proc = subprocess.run([sys.executable, "-m", "engine.emulator.cli", "--cluster", str(bad), "--", "true"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert 'Namespace Bad_Name: Namespace "Bad_Name" is invalid' in proc.stderr
