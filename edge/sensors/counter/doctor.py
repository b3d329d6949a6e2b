"""Doctor's check of a people counter: its feed answers, with two running totals."""

from __future__ import annotations

from edge.doctor.host import Host
from edge.doctor.result import Check
from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.counter.feed import FeedError, fetch, totals_from
from edge.sensors.counter.runtime import device

__all__ = ["check"]


def check(sensor: CounterSensorConfig, host: Host) -> Check:
    """One reading of the feed, as the source takes it."""
    name, where = f"counter:{sensor.name}", device(sensor)
    facts: dict[str, object] = {"url": sensor.url}
    try:
        body = fetch(sensor.url, min(sensor.timeout_s, host.timeout_s))
    except OSError as exc:
        fix = (
            f"check that the counter is powered and on the network (`curl -s {sensor.url}`),"
            " and that the url key is its count feed's address"
        )
        return Check(name, "fail", f"{where} does not answer: {exc}", fix, facts)
    try:
        totals = totals_from(body, sensor.in_key, sensor.out_key)
    except FeedError as exc:
        fix = (
            "set in_key and out_key to where the reply holds the totals"
            f" (see `curl -s {sensor.url}`), e.g. in_key = 'counts.in'"
        )
        return Check(name, "fail", f"{where} answers, but {exc}", fix, facts)
    facts |= {"in": totals.entered, "out": totals.exited}
    detail = f"{where} answers: {totals.entered} in, {totals.exited} out so far"
    return Check(name, "pass", detail, facts=facts)
