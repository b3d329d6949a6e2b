"""Counting phones, not MAC addresses: link a phone's random MACs into one device group.

Pure and clock-free like the parsers: probes in, group ids out. The aggregator
calls ``Grouper.assign_batch`` between the parser and its sessions and keys
its devices by the group id (see docs/grouping.md, "Integration").
"""

from __future__ import annotations

from edge.grouping.grouper import Grouper, GroupSummary
from edge.grouping.rules import LINK_KINDS, GroupingConfig

__all__ = ["LINK_KINDS", "GroupSummary", "Grouper", "GroupingConfig"]
