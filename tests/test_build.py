"""The compiled hot path is current, the pure-Python switch works, the wheel holds the product."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drivers._native import HOT_MODULES, PURE_PYTHON_ENV
from edge.build_native import compiled_modules, stale_modules

ROOT = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the wheel holds: setuptools' own ``build_py`` on a copy of the product's sources.

    ``build_py`` lays out the packages and their package data exactly as ``bdist_wheel``
    puts them in the wheel; the copy keeps the checkout free of build folders.
    """
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.so", "*.egg-info")
    for top in ("edge", "drivers", "sync"):
        shutil.copytree(ROOT / top, src / top, ignore=ignore)
    out = src / "build-lib"
    command = ["-c", "from setuptools import setup; setup()", "-q", "build_py"]
    subprocess.run(
        [sys.executable, *command, "--build-lib", str(out)],
        cwd=src, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    return out


def test_the_wheel_holds_the_product_and_no_test_fixtures(built: Path) -> None:
    shipped = {p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file()}
    assert {"edge/demo/demo.toml", "edge/demo/run.py", "edge/py.typed"} <= shipped
    assert "drivers/ble/decode/advertisement.py" in shipped  # subpackages are found
    assert not [f for f in shipped if f.startswith("edge/demo/samples/")]
    fixtures = {p.name for p in (ROOT / "tests" / "fixtures").glob("*.py")} - {"__init__.py"}
    assert fixtures, "the test fixtures moved: update this test"
    assert not [f for f in shipped if f.rpartition("/")[2] in fixtures]
    assert not [f for f in shipped if f.startswith(("tests/", "benchmarks/", "fixtures/"))]


def test_the_installed_demo_says_where_to_run_it(built: Path, tmp_path: Path) -> None:
    env = os.environ | {"PYTHONPATH": str(built)}  # the built packages ahead of the checkout
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "demo", "--out", str(tmp_path / "out")],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    message = " ".join(done.stderr.split())
    assert "not installed" in message and "`make demo`" in message, message
    assert "checkout of the repository" in message, message
    assert not (tmp_path / "out").exists()  # nothing was started or written
