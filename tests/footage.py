"""Real camera footage that ships in a Debian package, fetched once into a cache.

``vtest.avi`` is OpenCV's pedestrian sample (768 x 576, 10 fps, 795 frames), shipped by
Debian's ``opencv-doc`` package. Installing that package would add 270 MB of docs, so
``python3 tests/footage.py`` (run by ``make footage``, part of ``make test``) downloads the
.deb with ``apt-get download``, extracts only this one file, checks its SHA-256 and deletes
the .deb. Standard library only: the Makefile runs it before the virtualenv exists.

Tests find the file with ``vtest_path()`` and skip when it is absent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

__all__ = ["VTEST_SHA256", "fetch_vtest", "vtest_path"]

_ROOT = Path(__file__).resolve().parents[1]
CACHE = _ROOT / "benchmarks" / ".cache" / "footage"
PACKAGE = "opencv-doc"
MEMBER = "./usr/share/doc/opencv-doc/examples/data/vtest.avi"
VTEST_SHA256 = "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf"
"""Of vtest.avi in opencv-doc 4.6.0+dfsg-12 (Debian 12); the same file since OpenCV 2.4."""


def vtest_path() -> Path:
    """``$MALLSENSE_FOOTAGE/vtest.avi`` if set, else the repository's footage cache."""
    configured = os.environ.get("MALLSENSE_FOOTAGE")
    return (Path(configured) if configured else CACHE) / "vtest.avi"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _extract(deb: Path, target: Path) -> None:
    """Only ``MEMBER`` from the .deb's file system tarball, streamed through dpkg-deb."""
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as p:
        assert p.stdout is not None
        with tarfile.open(fileobj=p.stdout, mode="r|") as tar:
            for info in tar:
                if info.name == MEMBER and info.isfile():
                    source = tar.extractfile(info)
                    assert source is not None
                    with target.open("wb") as out:
                        shutil.copyfileobj(source, out)
                    break
            else:
                raise SystemExit(f"{deb.name} has no {MEMBER}")
        p.stdout.close()
        p.kill()  # the rest of the tarball is not needed
    if _sha256(target) != VTEST_SHA256:
        target.unlink()
        raise SystemExit(f"vtest.avi from {deb.name} has an unexpected SHA-256; not kept")


def fetch_vtest(target: Path | None = None) -> Path:
    """The checked file, downloading ``opencv-doc`` (about 96 MB) only when it is missing."""
    target = target or vtest_path()
    if target.exists() and _sha256(target) == VTEST_SHA256:
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SystemExit(f"{target} is missing and apt-get/dpkg-deb are not available")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix="deb-") as work:
        print(f"fetching {target.name} from Debian's {PACKAGE} package (about 96 MB)")
        download = subprocess.run(
            ["apt-get", "download", "-qq", PACKAGE],
            check=False,
            cwd=work,
            capture_output=True,
            text=True,
        )
        debs = sorted(Path(work).glob(f"{PACKAGE}_*.deb"))
        if download.returncode != 0 or not debs:
            raise SystemExit(
                f"apt-get download {PACKAGE} failed ({download.stderr.strip()});"
                " run `apt-get update` and try again"
            )
        partial = Path(work) / target.name
        _extract(debs[0], partial)
        partial.replace(target)  # the .deb goes with the temporary directory
    return target


if __name__ == "__main__":
    print(fetch_vtest(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
