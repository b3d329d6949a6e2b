"""The daemon's allocator settings (drivers.memory).

What they save is measured, not asserted here: the whole-box recordings replayed
offline with a checkpoint every 6 s hold 249 MB resident with glibc's defaults and
189 MB with these settings (docs/performance.md)."""

from __future__ import annotations

import subprocess
import sys


def test_glibc_takes_both_settings_in_a_fresh_process() -> None:
    code = "from drivers.memory import tune_allocator; print(tune_allocator())"
    argv = [sys.executable, "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"
