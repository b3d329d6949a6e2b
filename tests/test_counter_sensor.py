"""The people-counter sensor (docs/architecture.md's worked example), against a real HTTP server.

The counter is a local ``http.server`` that answers like a door counter's count
feed (running totals in JSON); everything else is the real source, the real
daemon, real SQLite and the real doctor.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from broker import free_port

from edge.config import Config, parse_config
from edge.contract import schema_errors
from edge.doctor import Host, run_doctor
from edge.errors import ConfigError
from edge.runtime.daemon import EdgeDaemon
from edge.sensors.counter.config import CounterSensorConfig
from edge.sensors.counter.doctor import check
from edge.sensors.counter.feed import FeedError, Totals, totals_from
from edge.sensors.counter.intervals import Interval, Intervals
from edge.sensors.counter.records import footfall_record
from edge.sensors.counter.source import CounterSource
from edge.store import Store

KEY = bytes(range(32))
T0 = 1_800_000_000.0  # a whole minute


class CountFeed:
    """A door counter's HTTP count feed: running totals that the test moves on."""

    def __init__(self) -> None:
        self.entered = 100
        self.exited = 90
        self.body: bytes | None = None
        """Set to answer with these bytes instead of the totals (a broken feed)."""
        self.requests = 0
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feed.requests += 1
                body = (
                    feed.body
                    or json.dumps(
                        {"device": "door-1", "counts": {"in": feed.entered, "out": feed.exited}}
                    ).encode()
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/counts"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> CountFeed:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed() -> Iterator[CountFeed]:
    with CountFeed() as running:
        yield running


def sensor(url: str, **extra: Any) -> CounterSensorConfig:
    keys = {"in_key": "counts.in", "out_key": "counts.out"} | extra
    return CounterSensorConfig(type="counter", name="door", zone="shop", url=url, **keys)


def config(db: Path, url: str) -> Config:
    return parse_config(
        f"""
mall = "m1"
box = "b1"
[[zones]]
id = "shop"
[[sensors]]
type = "counter"
name = "door"
zone = "shop"
url = "{url}"
in_key = "counts.in"
out_key = "counts.out"
poll_s = 0.05
interval_s = 1
[aggregation]
flush_interval_s = 0.2
[store]
path = "{db}"
"""
    )


# -- running totals -> intervals ---------------------------------------------------------------


def test_the_first_reading_is_the_baseline_and_later_ones_count_their_difference() -> None:
    intervals = Intervals(60)
    assert intervals.add(T0 + 5, Totals(100, 90)) == []
    assert intervals.add(T0 + 15, Totals(103, 91)) == []
    finished = intervals.add(T0 + 65, Totals(110, 95))
    assert finished == [Interval(T0 + 5, T0 + 60, 3, 1)], "counted from the baseline on"
    assert intervals.cut() == Interval(T0 + 60, T0 + 65, 7, 4, cut=True)


def test_a_total_that_went_down_is_a_counter_restarted_from_zero() -> None:
    intervals = Intervals(60)
    intervals.add(T0, Totals(500, 480))
    intervals.add(T0 + 10, Totals(4, 2))  # midnight reset: 4 in and 2 out since
    assert intervals.resets == 2
    assert intervals.cut() == Interval(T0, T0 + 10, 4, 2, cut=True)


def test_a_cut_interval_goes_on_from_the_cut_and_nothing_is_counted_twice() -> None:
    intervals = Intervals(60)
    intervals.add(T0, Totals(0, 0))
    intervals.add(T0 + 20, Totals(5, 0))
    first = intervals.cut()
    intervals.add(T0 + 40, Totals(8, 1))
    second = intervals.add(T0 + 61, Totals(9, 1))
    assert first == Interval(T0, T0 + 20, 5, 0, cut=True)
    assert second == [Interval(T0 + 20, T0 + 60, 3, 1)]
    assert intervals.cut() == Interval(T0 + 60, T0 + 61, 1, 0, cut=True)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"<html>login</html>", "not JSON"),
        (b'{"counts": {"in": 3}}', "no 'counts.out'"),
        (b'{"counts": {"in": -1, "out": 0}}', "not a count"),
        (b'{"counts": {"in": true, "out": 0}}', "not a count"),
        (b'{"counts": {"in": 1.5, "out": 0}}', "not a count"),
        (b'{"counts": [1, 2]}', "no 'counts.in'"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_a_reply_that_is_not_a_count_feed_says_what_is_wrong(body: bytes, words: str) -> None:
    with pytest.raises(FeedError, match=words):
        totals_from(body, "counts.in", "counts.out")


def test_the_configuration_refuses_a_password_in_the_url_and_other_schemes() -> None:
    for url, words in (
        ("ftp://10.0.0.2/x", "http:// or https://"),
        ("http://admin:secret@10.0.0.2/x", "no password"),
    ):
        with pytest.raises(ConfigError, match=words):
            config(Path("/tmp/unused.db"), url)


# -- the source against the feed ---------------------------------------------------------------


def test_the_source_reads_the_feed_and_makes_valid_footfall_records(feed: CountFeed) -> None:
    times = iter(T0 + 20 * i for i in range(100))
    source = CounterSource(sensor(feed.url), clock=lambda: next(times))
    emitted: list[Interval] = []
    steps = iter([(104, 91), (110, 95), (111, 95)])  # read at 0, 20, 40, 60 and 80 s

    class Stop:
        def is_set(self) -> bool:
            return feed.requests >= 5

        def wait(self, _s: float) -> None:
            feed.entered, feed.exited = next(steps, (feed.entered, feed.exited))

    source.run(emitted.extend, Stop())
    # the reading at 60 s closes the first interval (a reading belongs to (start, end])
    assert emitted == [Interval(T0, T0 + 60, 11, 5), Interval(T0 + 60, T0 + 80, 0, 0, cut=True)]
    records = [footfall_record("m1", "b1", source.sensor, i) for i in emitted]
    for record in records:
        assert schema_errors("footfall", record) == []
    assert records[0] | {"id": ""} == {
        "id": "", "kind": "footfall", "schema": "footfall/1", "mall": "m1", "box": "b1",
        "supersedes": None, "camera": "door", "line": "door", "zone": "shop",
        "start": "2027-01-15T08:00:00.000Z", "end": "2027-01-15T08:01:00.000Z",
        "in": 11, "out": 5, "partial": False,
    }  # fmt: skip
    again = footfall_record("m1", "b1", source.sensor, emitted[0])
    assert again["id"] == records[0]["id"], "the same interval must get the same id"


def test_a_broken_feed_is_counted_and_skipped(feed: CountFeed) -> None:
    feed.body = b"<html>please log in</html>"
    source = CounterSource(sensor(feed.url), clock=time.time)
    assert source._read_once() == []
    assert source.stats()["rejected"] == {"bad_reply": 1}
    assert source.last_frame_at is None, "a bad reply is not a sign of life"


# -- the daemon ----------------------------------------------------------------------------------


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)


def footfall(db: Path) -> list[dict[str, Any]]:
    with Store(db) as store:
        return list(store.records("footfall"))


def test_the_daemon_stores_every_person_the_counter_counted(
    feed: CountFeed, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"

    async def main() -> None:
        with Store(db) as store:
            daemon = EdgeDaemon(config(db, feed.url), KEY, store)
            task = asyncio.create_task(daemon.run())
            try:
                await until(lambda: feed.requests >= 2, 10, "first readings")
                for _ in range(6):  # people walking through over about 3 s
                    feed.entered += 2
                    feed.exited += 1
                    await asyncio.sleep(0.5)
                await until(lambda: len(footfall(db)) >= 2, 10, "interval records")
            finally:
                daemon.stop()
                await asyncio.wait_for(task, 30)

    asyncio.run(main())
    records = footfall(db)
    assert sum(r["in"] for r in records) == 12
    assert sum(r["out"] for r in records) == 6
    assert [r["partial"] for r in records].count(True) <= 1, "only the stop cuts an interval"
    for record in records:
        assert schema_errors("footfall", record) == []


def test_an_unreachable_counter_is_restarted_and_named(tmp_path: Path) -> None:
    db = tmp_path / "box.db"
    url = f"http://127.0.0.1:{free_port()}/api/counts"  # nobody listens

    async def main() -> EdgeDaemon:
        with Store(db) as store:
            daemon = EdgeDaemon(config(db, url), KEY, store)
            task = asyncio.create_task(daemon.run())
            try:
                await until(lambda: daemon.health["door"].restarts >= 1, 10, "a restart")
            finally:
                daemon.stop()
                await asyncio.wait_for(task, 30)
            return daemon

    daemon = asyncio.run(main())
    error = daemon.health["door"].last_error or ""
    assert "counter 127.0.0.1" in error and "refused" in error.lower()


# -- doctor ----------------------------------------------------------------------------------------


def test_doctor_reads_the_feed_once(feed: CountFeed) -> None:
    result = check(sensor(feed.url), Host(timeout_s=2))
    assert result.status == "pass"
    assert "100 in, 90 out" in result.detail


def test_doctor_names_the_keys_to_set_when_the_reply_holds_no_totals(feed: CountFeed) -> None:
    result = check(sensor(feed.url, in_key="in", out_key="out"), Host(timeout_s=2))
    assert result.status == "fail"
    assert "no 'in'" in result.detail and "in_key" in (result.fix or "")


def test_doctor_says_what_to_check_when_the_counter_does_not_answer(tmp_path: Path) -> None:
    path = tmp_path / "mallsense.toml"
    url = f"http://127.0.0.1:{free_port()}/api/counts"
    path.write_text(
        f'mall = "m1"\nbox = "b1"\n[[zones]]\nid = "shop"\n[[sensors]]\ntype = "counter"\n'
        f'name = "door"\nzone = "shop"\nurl = "{url}"\n[store]\npath = "{tmp_path / "b.db"}"\n',
        encoding="utf-8",
    )
    skip = ("key", "broker", "clock", "disk", "database")
    checks = {c.name: c for c in run_doctor(path, Host(timeout_s=2), skip)}
    assert checks["counter:door"].status == "fail"
    assert "does not answer" in checks["counter:door"].detail
    assert "curl" in (checks["counter:door"].fix or "")


def test_a_sensor_that_gave_nothing_yet_is_waiting_not_running(
    feed: CountFeed, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    feed.body = b"<html>the counter's login page</html>"  # answers, but never a count

    async def main() -> list[str]:
        with Store(db) as store:
            daemon = EdgeDaemon(config(db, feed.url), KEY, store)
            task = asyncio.create_task(daemon.run())
            states = []
            try:
                await until(lambda: feed.requests >= 3, 10, "readings")
                states.append(daemon.health["door"].state)
                feed.body = None
                await until(lambda: daemon.health["door"].state == "running", 10, "running")
                states.append(daemon.health["door"].state)
            finally:
                daemon.stop()
                await asyncio.wait_for(task, 30)
            return states

    assert asyncio.run(main()) == ["waiting", "running"]
