"""The Prometheus endpoints ([metrics]), scraped over real HTTP from the real daemons.

The edge daemon runs the demo box (two Wi-Fi recordings, the BLE recording) plus a
camera playing a small synthetic video through the real inference process; the
sync daemon drains a replayed database to a real mosquitto. What they serve is
parsed with prometheus_client's own parser.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Broker, Subscriber, free_port
from cli_helpers import DEMO_CONFIG, KEY, MALLSENSE, SAMPLES, invoke
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from edge.config import parse_config
from edge.config.metrics import MetricsConfig
from edge.errors import ConfigError
from edge.runtime.metrics import LatencyHistogram, MetricsEndpoint

RECORDINGS = {
    "entrance": SAMPLES / "entrance.pcap",
    "shop": SAMPLES / "shop.pcap",
    "shop-ble": SAMPLES / "ble.jsonl",
}
Scrape = dict[str, list[Sample]]


def scrape(port: int) -> Scrape:
    """Every sample served on /metrics, by family name (counters without ``_total``)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def value(samples: list[Sample], suffix: str = "", **labels: str) -> float:
    found = [
        s.value
        for s in samples
        if s.name.endswith(suffix) and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) == 1, (labels, samples)
    return found[0]


def scrape_until(port: int, ready: object, proc: subprocess.Popen[bytes], log: Path) -> Scrape:
    deadline = time.monotonic() + 40
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            got = scrape(port)
            if ready(got):  # type: ignore[operator]
                return got
        except (urllib.error.URLError, ConnectionError):
            pass  # not listening yet
        assert time.monotonic() < deadline, f"timed out; last log:\n{log.read_text()[-3000:]}"
        time.sleep(0.3)


def box_config(tmp_path: Path, db: Path, metrics: str, extra: str = "", broker: str = "") -> Path:
    text = DEMO_CONFIG.read_text().replace('path = "demo-output/mallsense.db"', f'path = "{db}"')
    if broker:
        text = text.replace("mqtt://127.0.0.1:1883", broker)
    config = tmp_path / "box.toml"
    config.write_text(f"{text}\n{extra}\n[metrics]\n{metrics}\n")
    return config


def service_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLSENSE_")}
    return env | {"MALLSENSE_KEY": KEY}


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- configuration ------------------------------------------------------------------------


def metrics_config(block: str) -> MetricsConfig:
    return parse_config(f'mall = "m"\nbox = "b"\n[[zones]]\nid = "z"\n[metrics]\n{block}').metrics


def test_the_endpoint_is_off_by_default_and_on_loopback() -> None:
    default = metrics_config("")
    assert not default.enabled
    assert (default.listen, default.sync_listen) == ("127.0.0.1:9477", "127.0.0.1:9478")
    for listen in ("localhost:9100", "[::1]:9100", "127.0.0.5:9100"):
        assert metrics_config(f'enabled = true\nlisten = "{listen}"').listen == listen


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ('listen = "0.0.0.0:9477"', "metrics.listen (got '0.0.0.0:9477'): expected a loopback"),
        ('sync_listen = "[::]:9478"', "metrics.sync_listen (got '[::]:9478'): expected a loopback"),
        ('listen = "box.mall.example:9477"', "metrics.listen (got 'box.mall.example:9477')"),
        ('listen = "9477"', "metrics.listen (got '9477'): expected HOST:PORT"),
        ('listen = "127.0.0.1:70000"', "expected HOST:PORT with a port from 1 to 65535"),
        ('listen = "::1:9477"', "expected an IPv6 address in brackets"),
        ('sync_listen = "127.0.0.1:9477"', "expected another port than metrics.listen"),
        ("port = 9477", "metrics.port: unknown key"),
    ],
)
def test_a_bad_or_non_loopback_address_is_refused_with_its_key(block: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        metrics_config(block)
    assert expected in str(caught.value)


def test_the_network_is_allowed_only_on_purpose() -> None:
    config = metrics_config('enabled = true\nlisten = "0.0.0.0:9477"\nallow_remote = true')
    assert config.listen == "0.0.0.0:9477"


# -- the endpoint itself ------------------------------------------------------------------


def test_a_port_in_use_is_logged_and_the_endpoint_can_move(
    caplog: pytest.LogCaptureFixture,
) -> None:
    endpoint = MetricsEndpoint(CollectorRegistry(), "edge")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with caplog.at_level(logging.ERROR, "mallsense.metrics"):
            endpoint.apply(MetricsConfig(enabled=True, listen=f"127.0.0.1:{taken}"))
        assert bound_port(endpoint) is None
        assert f"cannot listen on 127.0.0.1:{taken}" in caplog.text
        assert "metrics.listen" in caplog.text
    port = free_port()
    endpoint.apply(MetricsConfig(enabled=True, listen=f"127.0.0.1:{port}"))
    try:
        assert scrape(port) == {}  # an empty registry: served, nothing in it
        endpoint.apply(MetricsConfig(enabled=True, listen=f"127.0.0.1:{port}"))  # unchanged
        assert bound_port(endpoint) == port
    finally:
        endpoint.apply(MetricsConfig(enabled=False))
    with pytest.raises(urllib.error.URLError):
        scrape(port)


def bound_port(endpoint: MetricsEndpoint) -> int | None:
    return None if endpoint.address is None else endpoint.address.port


def test_latency_buckets_are_cumulative() -> None:
    histogram = LatencyHistogram((0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(seconds)
    family = histogram.family("x_seconds", "x")
    buckets = {s.labels["le"]: s.value for s in family.samples if s.name == "x_seconds_bucket"}
    assert buckets == {"0.1": 2, "1.0": 3, "+Inf": 4}
    assert {s.name: s.value for s in family.samples}["x_seconds_sum"] == pytest.approx(3.65)


# -- the daemons --------------------------------------------------------------------------


def test_the_edge_daemon_serves_its_sensors_records_and_backlog(
    tmp_path: Path, stopped: list[subprocess.Popen[bytes]]
) -> None:
    from camera_helpers import write_video

    video = write_video(tmp_path / "cam.mp4", frames=60, size=(320, 240))
    camera = (
        '[[sensors]]\ntype = "camera"\nname = "cam"\nzone = "shop"\n'
        'url = "rtsp://10.0.0.9/stream1"\nmotion_gating = false\n'
    )
    port = free_port()
    db = tmp_path / "box.db"
    metrics = f'enabled = true\nlisten = "127.0.0.1:{port}"\nsync_listen = "127.0.0.1:{port + 1}"'
    config = box_config(tmp_path, db, metrics, camera)
    simulate = [f"--simulate={n}={p}" for n, p in (RECORDINGS | {"cam": video}).items()]
    log = tmp_path / "edge.log"
    with log.open("wb") as out:
        argv = [*MALLSENSE, "run", "--config", str(config), *simulate, "--simulate-speed", "300"]
        edge = subprocess.Popen(argv, env=service_env(), stdout=out, stderr=subprocess.STDOUT)
    stopped.append(edge)

    def ready(got: Scrape) -> bool:
        written = got.get("mallsense_records_written", [])
        kinds = {s.labels["kind"] for s in written}
        # a BLE dwell ends a session gap after its last advert: wait for one, not only
        # for the first Wi-Fi dwell (on a loaded machine the scrape can come in between)
        ble_dwell = any(
            s.labels.get("origin") == "ble" and s.labels["kind"] == "dwell" for s in written
        )
        camera_ran = any(s.value > 0 for s in got.get("mallsense_camera_inference_seconds", []))
        return {"dwell", "presence", "visit"} <= kinds and ble_dwell and camera_ran

    got = scrape_until(port, ready, edge, log)
    assert value(got["mallsense_build_info"]) == 1
    sensors = {"entrance": "wifi", "shop": "wifi", "shop-ble": "ble", "cam": "camera"}
    for name, kind in sensors.items():
        assert value(got["mallsense_sensor_frames"], "_total", sensor=name, type=kind) > 0
        states = [s for s in got["mallsense_sensor_state"] if s.labels["sensor"] == name]
        assert len(states) == 1 and states[0].value == 1
        for reason in ("silence", "failure"):
            assert value(got["mallsense_sensor_restarts"], sensor=name, reason=reason) >= 0
    assert value(got["mallsense_sensor_observations"], sensor="shop-ble") > 0
    assert 0 < value(got["mallsense_camera_inference_seconds"], sensor="cam") < 5
    presence = value(got["mallsense_records_written"], kind="presence", origin="wifi", zone="shop")
    assert presence > 0
    assert value(got["mallsense_records_written"], kind="dwell", origin="ble", zone="shop") >= 0
    assert value(got["mallsense_observations_dropped"], reason="queue_full") == 0
    assert value(got["mallsense_edge_healthy"]) == 1
    assert value(got["mallsense_outbox_depth"]) > 0  # nobody ships it in this test
    assert value(got["mallsense_outbox_oldest_age_seconds"]) >= 0
    assert value(got["mallsense_aggregation_open_devices"]) > 0

    edge.send_signal(signal.SIGTERM)
    assert edge.wait(timeout=20) == 0, log.read_text()
    with pytest.raises(urllib.error.URLError):
        scrape(port)
    text = log.read_text()
    assert f"metrics on http://127.0.0.1:{port}/metrics" in text
    assert "Traceback" not in text


@pytest.mark.broker
def test_the_sync_daemon_serves_the_uplink_and_its_latency(
    tmp_path: Path, broker: Broker, stopped: list[subprocess.Popen[bytes]]
) -> None:
    db = tmp_path / "box.db"
    specs = [f"--wifi={n}={p}" for n, p in RECORDINGS.items() if p.suffix == ".pcap"]
    replayed = invoke("replay", "--config", DEMO_CONFIG, *specs, "--db", db, key=KEY)
    assert replayed.exit_code == 0, replayed.output
    port = free_port()
    metrics = f'enabled = true\nlisten = "127.0.0.1:{port + 1}"\nsync_listen = "127.0.0.1:{port}"'
    config = box_config(tmp_path, db, metrics, broker=broker.url)
    log = tmp_path / "sync.log"
    with log.open("wb") as out:
        argv = [*MALLSENSE, "sync", "--config", str(config)]
        sync = subprocess.Popen(argv, env=service_env(), stdout=out, stderr=subprocess.STDOUT)
    stopped.append(sync)
    # The platform is there: the box keeps what nobody took.
    platform = Subscriber(broker.host, broker.port, "mallsense/v1/+/+/data/+")

    def drained(got: Scrape) -> bool:
        depth = got.get("mallsense_outbox_depth")
        done = depth is not None and len(depth) == 1 and depth[0].value == 0
        return done and "mallsense_uplink_records_sent" in got

    try:
        got = scrape_until(port, drained, sync, log)
    finally:
        platform.close()
    sent = value(got["mallsense_uplink_records_sent"])
    assert sent > 100
    assert value(got["mallsense_uplink_connected"]) == 1
    assert value(got["mallsense_uplink_connections"]) == 1
    assert value(got["mallsense_uplink_batches_in_flight"]) == 0
    latency = got["mallsense_uplink_publish_latency_seconds"]
    batches = value(latency, "_count")
    assert 0 < batches <= sent
    buckets = [s.value for s in latency if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets) and buckets[-1] == batches
    assert 0 <= value(latency, "_sum") < 10 * batches
    assert value(got["mallsense_outbox_oldest_age_seconds"]) == 0
    assert value(got["mallsense_config_info"]) == 1
    sync.send_signal(signal.SIGTERM)
    assert sync.wait(timeout=20) == 0, log.read_text()
