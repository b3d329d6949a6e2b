"""``make deb``: a Debian package of the box, built with dpkg-deb (no debhelper).

What the package holds::

    /opt/mallsense/.venv/                 mallsense and its dependencies (extras ble, camera,
                                          pos), the hot path compiled by mypyc for the target
                                          interpreter, bytecode compiled ahead (the services
                                          see /opt read-only), models/ next to drivers/
    /opt/mallsense/.venv/share/mallsense/systemd/   what `mallsense install` reads
    /lib/systemd/system/mallsense-*       the units
    /usr/lib/sysusers.d/mallsense.conf    the account (systemd-sysusers at boot, too)
    /usr/share/doc/mallsense/install.md
    DEBIAN/control, postinst, prerm, postrm (from systemd/debian/)

The virtualenv is built in the staging tree and then told where it will live, as
dh-virtualenv does: ``#!`` lines and activate scripts are rewritten, bytecode names
the final paths. Its interpreter is the target's (``--python``, Debian's
/usr/bin/python3 by default), which the package therefore depends on.

The maintainer scripts live in ``systemd/debian/`` because they are about the
units (enable, start, stop); this module is the builder, in Python so it is typed
and tested like the rest (``tests/test_install.py`` builds a small package).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import edge
from edge.install.layout import DEB_PREFIX, SYSUSERS_FILE, UNITS, systemd_sources

__all__ = ["VenvBuilder", "build_deb", "build_venv", "stage"]

ROOT = Path(__file__).resolve().parents[2]
VENV = DEB_PREFIX / ".venv"
_SOURCES = ("edge", "drivers", "sync", "pyproject.toml", "README.md")
_MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")
# What compiles the hot path, as `make` does it (the dev extras' mypy and stubs); not shipped.
_BUILD_ONLY = ("mypy", "types-PyYAML", "types-jsonschema")

VenvBuilder = Callable[[Path], None]
"""Fills a virtualenv at the given staging path."""


def _run(*argv: str | Path, cwd: Path | None = None) -> None:
    subprocess.run([str(a) for a in argv], check=True, cwd=cwd)


def build_venv(venv: Path, python: str, source: Path = ROOT) -> None:
    """mallsense with its extras, installed (not editable) from a clean copy of ``source``.

    The hot path is compiled in that copy by the target's interpreter (with the
    project's mypy settings, as ``make`` does) and the extensions are copied next
    to the installed modules.
    """
    pip = (venv / "bin" / "pip", "--quiet", "--disable-pip-version-check")
    with tempfile.TemporaryDirectory(prefix="mallsense-deb-src-") as tmp:
        src = Path(tmp)
        skip = shutil.ignore_patterns("*.so", "__pycache__", "*.egg-info", "build")
        for name in _SOURCES:
            path = source / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=skip)
            else:
                shutil.copy2(path, src / name)
        _run(python, "-m", "venv", venv)
        _run(*pip, "install", "--no-compile", f"{src}[ble,camera,pos]")
        before = _installed(venv)
        _run(*pip, "install", "--no-compile", *_BUILD_ONLY)
        _run(venv / "bin" / "python", "-m", "edge.build_native", cwd=src)
        _run(*pip, "uninstall", "--yes", *sorted(_installed(venv) - before))
        site = _site_packages(venv)
        for extension in src.rglob("*.so"):
            shutil.copy2(extension, site / extension.relative_to(src))
    models = site / "models"  # drivers.camera.detect looks next to the drivers package
    models.mkdir()
    for pattern in ("*.onnx", "*.md"):  # a model and its card (with its checksum)
        for file in (source / "models").glob(pattern):
            shutil.copy2(file, models / file.name)


def _installed(venv: Path) -> set[str]:
    out = subprocess.run(
        [str(venv / "bin" / "pip"), "list", "--format=freeze", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split("==")[0].lower() for line in out.splitlines() if "==" in line}


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages in {venv}")
    return found[0]


def _relocate(staged: Path, final: PurePosixPath) -> None:
    """Make a virtualenv built at ``staged`` work from ``final`` (paths in bin/ and cfg)."""
    old, new = str(staged).encode(), str(final).encode()
    for path in [*sorted((staged / "bin").iterdir()), staged / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if old in data and b"\0" not in data[:1024]:  # text files only
            path.write_bytes(data.replace(old, new))


def _compile(root: Path, venv: Path) -> None:
    """Bytecode ahead of time, naming the installed paths (for tracebacks)."""
    python = venv / "bin" / "python"
    _run(python, "-m", "compileall", "-q", "-j", "0", "-s", root, "-p", "/", _site_packages(venv))


def stage(root: Path, venv_builder: VenvBuilder) -> None:
    """The package's file tree in ``root`` (emptied first), DEBIAN/ included."""
    if root.exists():
        shutil.rmtree(root)
    venv = root / VENV.relative_to("/")
    venv_builder(venv)
    _relocate(venv, VENV)
    units = systemd_sources()
    _copy(units, venv / "share" / "mallsense" / "systemd", [*UNITS, SYSUSERS_FILE], 0o644)
    _copy(units, root / "lib" / "systemd" / "system", list(UNITS), 0o644)
    sysusers = root / "usr" / "lib" / "sysusers.d"
    sysusers.mkdir(parents=True)
    shutil.copyfile(units / SYSUSERS_FILE, sysusers / "mallsense.conf")
    docs = root / "usr" / "share" / "doc" / "mallsense"
    docs.mkdir(parents=True)
    shutil.copyfile(ROOT / "docs" / "install.md", docs / "install.md")
    _copy(units / "debian", root / "DEBIAN", list(_MAINTAINER_SCRIPTS), 0o755)


def _copy(src: Path, dst: Path, names: list[str], mode: int) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(src / name, dst / name)
        (dst / name).chmod(mode)


def _control(root: Path, python_version: str) -> str:
    size_kb = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) // 1024
    return (
        f"Package: mallsense\n"
        f"Version: {edge.__version__}\n"
        f"Architecture: {_arch()}\n"
        f"Maintainer: mallsense <mallsense@localhost>\n"
        f"Installed-Size: {size_kb}\n"
        f"Depends: python{python_version}, systemd\n"
        f"Recommends: iw, bluez\n"
        f"Section: net\n"
        f"Priority: optional\n"
        f"Description: shopping-mall sensing box: privacy-safe visitor records over MQTT\n"
        f" Wi-Fi, BLE, camera and POS sensors turned into pseudonymous dwell, visit,\n"
        f" footfall and transaction records, kept in SQLite and shipped over MQTT 5.\n"
        f" Services mallsense-edge and mallsense-sync, daily mallsense-maintenance.timer.\n"
    )


def build_deb(
    out_dir: Path, work: Path, venv_builder: VenvBuilder, python_version: str, *, compile_: bool
) -> Path:
    """Stage, write DEBIAN/control, and build ``out_dir/mallsense_<version>_<arch>.deb``."""
    root = work / "root"
    stage(root, venv_builder)
    if compile_:
        _compile(root, root / VENV.relative_to("/"))
    (root / "DEBIAN" / "control").write_text(_control(root, python_version), encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    deb = out_dir / f"mallsense_{edge.__version__}_{_arch()}.deb"
    _run("dpkg-deb", "--root-owner-group", "-Zxz", "--build", root, deb)
    return deb


def _arch() -> str:
    argv = ["dpkg", "--print-architecture"]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def _python_version(python: str) -> str:
    code = "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"
    return subprocess.run(
        [python, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="/usr/bin/python3", help="the target's interpreter")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="where the .deb goes")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "deb", help="staging")
    args = parser.parse_args()
    python = os.path.realpath(shutil.which(args.python) or args.python)
    if not python.startswith("/usr/bin/"):
        print(
            f"debpkg: {python} is not a Debian interpreter; the package's venv would not work on"
            " another machine (pass --python /usr/bin/python3)",
            file=sys.stderr,
        )
        return 1
    version = _python_version(python)
    deb = build_deb(
        args.out.resolve(),
        args.work.resolve(),
        lambda venv: build_venv(venv, python),
        version,
        compile_=True,
    )
    print(f"debpkg: built {deb} ({deb.stat().st_size // 2**20} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
