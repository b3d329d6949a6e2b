"""A counter's intervals -> ``footfall`` records (the same kind a camera line makes).

The record's ``camera`` is the counter's sensor name and ``line`` its configured
doorway, so the platform sums a counted door the way it sums a camera line. Ids
are ``record_id(start, natural key)`` with the interval's end in the key:
reading the same feed again gives the same ids.
"""

from __future__ import annotations

from edge.aggregate.ids import Record
from edge.records import Footfall, utc
from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.counter.intervals import Interval

__all__ = ["footfall_record"]


def footfall_record(mall: str, box: str, sensor: CounterSensorConfig, cut: Interval) -> Record:
    """The record of one interval."""
    key = "\x1f".join(
        (mall, box, "footfall", sensor.name, sensor.line, repr(cut.start), repr(cut.end))
    )
    return Footfall.build(
        key,
        mall=mall,
        box=box,
        camera=sensor.name,
        line=sensor.line,
        zone=sensor.zone,
        start=utc(cut.start),
        end=utc(cut.end),
        in_=cut.entered,
        out=cut.exited,
        partial=cut.cut,
    )
