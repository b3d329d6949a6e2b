"""Event-time aggregation of observations into dwell, visit and presence records."""

from edge.aggregate.engine import Aggregator

__all__ = ["Aggregator"]
