"""Where the shared real captures are (tests that need them skip cleanly without them)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["shared_data"]

_ROOT = Path(__file__).resolve().parents[1]


def shared_data() -> Path:
    """``$MALLSENSE_SHARED_DATA``, else ``../shared/data`` next to the repository."""
    configured = os.environ.get("MALLSENSE_SHARED_DATA")
    if configured:
        return Path(configured)
    return _ROOT.parent / "shared" / "data"
