"""Compile the per-frame hot path to C with mypyc (``python -m edge.build_native``).

The modules below run for every captured frame. They are ordinary, fully
typed Python; mypyc turns them into C extensions that CPython imports in
place of the ``.py`` files, which makes ingest about 1.35 times faster (see
docs/performance.md). Everything works without them, only slower: when no C
compiler is available the build is skipped with a message.

``make`` runs this whenever one of the sources changes. ``--clean`` removes
the compiled modules; ``--check`` exits 1 if a compiled module is older than
its source (then the ``.py`` you edited is not what runs). The list of
modules is ``drivers._native.HOT_MODULES``; ``MALLSENSE_PURE_PYTHON=1`` runs
their source even when they are compiled.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from drivers._native import HOT_MODULES

__all__ = ["HOT_SOURCES", "compiled_modules", "stale_modules"]

ROOT = Path(__file__).resolve().parent.parent
HOT_SOURCES = tuple(name.replace(".", "/") + ".py" for name in HOT_MODULES)
_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
_GROUP = "edge._hotpath"


def _extension(source: str) -> Path:
    return ROOT / (source.removesuffix(".py") + _SUFFIX)


def compiled_modules() -> list[str]:
    """Hot modules that have a compiled extension next to them."""
    return [m for m in HOT_SOURCES if _extension(m).exists()]


def stale_modules() -> list[str]:
    """Compiled modules whose source changed after they were built."""
    return [
        m for m in compiled_modules() if _extension(m).stat().st_mtime < (ROOT / m).stat().st_mtime
    ]


def clean() -> None:
    for module in HOT_SOURCES:
        _extension(module).unlink(missing_ok=True)
    for package in ("drivers", "edge"):  # never glob the whole tree: .venv has mypyc's own
        for leftover in (ROOT / package).rglob("*__mypyc" + _SUFFIX):
            leftover.unlink()


def build() -> int:
    """Compile in place; 0 on success, 0 with a warning when no compiler is present."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        print(
            f"build_native: no C compiler ({compiler}); the pure-Python hot path runs",
            file=sys.stderr,
        )
        return 0
    from mypyc.build import mypycify
    from setuptools import Distribution

    clean()
    os.chdir(ROOT)  # mypyc names modules after their paths relative to the working directory
    with tempfile.TemporaryDirectory(prefix="mallsense-mypyc-") as tmp:
        extensions = mypycify(
            list(HOT_SOURCES),
            opt_level="3",
            # One shared library for the group (calls between the modules stay in C),
            # named inside the edge package so nothing lands outside the packages.
            group_name=_GROUP,
            target_dir=str(Path(tmp) / "c"),
        )
        # A bare Distribution: the project's own pyproject.toml is not read here.
        dist = Distribution({"name": "mallsense-native", "ext_modules": extensions})
        dist.script_args = [
            "-q", "build_ext", "--inplace",
            "--build-temp", str(Path(tmp) / "o"), "--build-lib", str(Path(tmp) / "lib"),
        ]  # fmt: skip
        dist.parse_command_line()
        dist.run_commands()
    missing = [m for m in HOT_SOURCES if not _extension(m).exists()]
    if missing:
        print(f"build_native: not compiled: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"build_native: compiled {len(HOT_SOURCES)} hot modules with mypyc")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--check", action="store_true", help="fail if a compiled module is stale")
    args = parser.parse_args()
    if args.clean:
        clean()
        return 0
    if args.check:
        stale = stale_modules()
        for module in stale:
            print(f"stale compiled module: {module} changed after it was built; run make")
        return 1 if stale else 0
    return build()


if __name__ == "__main__":
    sys.exit(main())
