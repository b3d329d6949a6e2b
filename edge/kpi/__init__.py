"""Mall figures at the edge: hourly traffic per zone and kpi per store (issue 8)."""

from __future__ import annotations

from edge.kpi.calibration import Calibration, Ratio
from edge.kpi.tracker import KpiTracker

__all__ = ["Calibration", "KpiTracker", "Ratio"]
