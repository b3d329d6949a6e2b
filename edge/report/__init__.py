"""`mallsense report`: a day's figures from the stored records, for people.

``figures`` builds a Report from records (pure); ``terminal`` prints it with
tables and sparklines; ``html`` writes one self-contained page with SVG charts
drawn here (no JavaScript, no network).
"""

from __future__ import annotations

from edge.report.figures import KINDS, Report, build_report, day_bounds

__all__ = ["KINDS", "Report", "build_report", "day_bounds"]
