"""The layout's import rules (pyproject.toml's [tool.importlinter] contracts), checked by import-linter."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

import glassnet as gn

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    command = shutil.which("lint-imports")
    if command is None:
        pytest.skip("lint-imports is not installed (pip install import-linter, part of the test extra)")
    # the contracts are checked on the glassnet under test, not whichever copy is installed
    src = str(Path(gn.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[result.stdout.find("Broken contracts"):] or result.stderr
