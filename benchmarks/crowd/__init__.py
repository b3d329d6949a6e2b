"""The crowd simulator and benchmark: a mall day of phones that randomize their MACs.

``render.generate`` writes one pcap per sensor plus the truth; ``evaluate``
replays them through the real parser and ``edge.grouping``; ``run.py`` prints
the figures (raw MAC counting against grouping). Imported as ``crowd`` with
``benchmarks/`` on the path (the benchmarks folder is not a package).
"""

import sys
from pathlib import Path

# The frame builder lives with the test fixtures (tests/fixtures/probe_frames.py), imported
# as ``fixtures`` with tests/ on the path, as the tests do.
_TESTS = str(Path(__file__).resolve().parents[2] / "tests")
if _TESTS not in sys.path:
    sys.path.append(_TESTS)
