"""Which modules may run compiled (mypyc), and the switch back to their Python source.

``edge.build_native`` compiles ``HOT_MODULES`` into C extensions next to their
``.py`` files, and CPython imports an extension in preference to source. Set
``MALLSENSE_PURE_PYTHON=1`` to run the source instead: for a technician who
suspects the compiled build, and for the tests that check both give the same
results.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

__all__ = ["HOT_MODULES", "PURE_PYTHON_ENV", "prefer_source_if_requested"]

PURE_PYTHON_ENV = "MALLSENSE_PURE_PYTHON"
HOT_MODULES = (
    "drivers.observations",
    "drivers.privacy",
    "drivers.wifi.pcap",
    "drivers.wifi.radiotap",
    "drivers.wifi.parse",
    "edge.grouping.rules",
    "edge.grouping.grouper",
    "edge.aggregate.ids",
    "edge.aggregate.state",
    "edge.aggregate.emit",
    "edge.aggregate.engine",
)


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the hot modules' ``.py`` files, ahead of the compiled extensions."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in HOT_MODULES:
            return None
        leaf = fullname.rpartition(".")[2] + ".py"
        for entry in path or sys.path:
            candidate = Path(entry) / leaf
            if candidate.is_file():
                return importlib.util.spec_from_file_location(fullname, candidate)
        return None


def prefer_source_if_requested() -> bool:
    """Install the source finder when ``MALLSENSE_PURE_PYTHON`` is set; True if active."""
    if not os.environ.get(PURE_PYTHON_ENV):
        return False
    if not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())
    return True
