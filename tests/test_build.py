"""The compiled hot path is current, and the pure-Python switch works."""

from __future__ import annotations

import os
import subprocess
import sys

from drivers._native import HOT_MODULES, PURE_PYTHON_ENV
from edge.build_native import compiled_modules, stale_modules


def test_compiled_modules_are_not_older_than_their_source() -> None:
    assert stale_modules() == [], "a hot module changed after it was compiled: run `make`"


def test_the_pure_python_switch_loads_every_hot_module_from_source() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {list(HOT_MODULES)!r}:\n"
        "    print(importlib.import_module(name).__file__)\n"
    )
    env = os.environ | {PURE_PYTHON_ENV: "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    files = out.stdout.split()
    assert len(files) == len(HOT_MODULES)
    assert all(f.endswith(".py") for f in files)


def test_make_compiles_every_hot_module_where_a_compiler_exists() -> None:
    if compiled_modules():
        assert len(compiled_modules()) == len(HOT_MODULES)
