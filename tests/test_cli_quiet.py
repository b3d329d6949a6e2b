"""Libraries do not talk over the technician: OpenCV's own warnings stay off stderr."""

from __future__ import annotations

from pathlib import Path

from cli_helpers import run_mallsense


def test_a_camera_that_cannot_be_opened_is_said_once_in_our_words(tmp_path: Path) -> None:
    broken = tmp_path / "door.mp4"
    broken.write_bytes(b"not a video at all")
    config = tmp_path / "box.toml"
    config.write_text(
        f'mall = "m1"\nbox = "b1"\n[[zones]]\nid = "shop"\n[[sensors]]\ntype = "camera"\n'
        f'name = "door"\nzone = "shop"\nurl = "{broken}"\n[store]\npath = "{tmp_path}/b.db"\n',
        encoding="utf-8",
    )
    out = tmp_path / "door.png"
    done = run_mallsense(
        "camera", "snapshot", "door", "--config", config, "--out", out, cwd=tmp_path
    )
    assert done.returncode == 2
    assert "cannot be opened" in done.stderr
    assert "[ WARN" not in done.stderr and "cap.cpp" not in done.stderr, done.stderr
