"""Figures you can trust without linking every random MAC: people and dwell with intervals.

- ``people``: people present per zone and interval from scan events per fingerprint
  class (a rate estimator; no linking);
- ``rates``: the scan interval and MACs per scan, learned from the phones the box can
  follow;
- ``hourly``: people per zone and hour (occupancy times the followed phones' turnover);
- ``dwell``: dwell median and p90 from sure sessions, else Little's law.

See docs/figures.md for the method, its error tables on held-out scenarios and how
each estimator fails.
"""

from __future__ import annotations

from edge.estimate.dwell import dwell_figures
from edge.estimate.hourly import HourPeople, Turnover, hour_people
from edge.estimate.people import PeopleEstimator, WindowPeople
from edge.estimate.rates import ScanRates

__all__ = [
    "HourPeople",
    "PeopleEstimator",
    "ScanRates",
    "Turnover",
    "WindowPeople",
    "dwell_figures",
    "hour_people",
]
