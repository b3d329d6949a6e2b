"""Shared fixtures."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Broker, find_mosquitto
from cli_helpers import DEMO_CONFIG, DEMO_SPECS, KEY, SHOP, Replayed, invoke, run_mallsense
from click.testing import Result
from postgres import LocalPostgres, running_postgres


@pytest.fixture(scope="module")
def postgres() -> Iterator[LocalPostgres]:
    """A real PostgreSQL on a free loopback port for the module (skipped when not installed)."""
    with running_postgres() as server:
        yield server


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A real mosquitto on a free loopback port (anonymous, no persistence), killed after."""
    if find_mosquitto() is None:
        pytest.skip("mosquitto is not installed (`make tools` installs it with apt-get)")
    instance = Broker(tmp_path / "mosquitto")
    instance.start()
    try:
        yield instance
    finally:
        instance.kill()


# -- shared CLI runs (module-scoped: each test module replays once) -----------------


@pytest.fixture(scope="module")
def demo_replay(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """Both samples through the demo configuration, with a fixed key (``--json``)."""
    db = tmp_path_factory.mktemp("demo") / "demo.db"
    result = invoke("replay", "--config", DEMO_CONFIG, *DEMO_SPECS, "--db", db, "--json", key=KEY)
    assert result.exit_code == 0, result.output
    return Replayed(db, result)


@pytest.fixture(scope="module")
def shop_replay(tmp_path_factory: pytest.TempPathFactory) -> Replayed:
    """shop.pcap without a configuration (built-in defaults, throwaway key), human output."""
    db = tmp_path_factory.mktemp("shop") / "shop.db"
    result = invoke("replay", "--wifi", SHOP, "--db", db)
    assert result.exit_code == 0, result.output
    return Replayed(db, result)


@pytest.fixture(scope="module")
def watch_json(tmp_path_factory: pytest.TempPathFactory) -> subprocess.CompletedProcess[str]:
    """``wifi watch --file shop.pcap --seconds 3 --json`` as a real process."""
    cwd = tmp_path_factory.mktemp("watch")
    args = ("wifi", "watch", "--file", SHOP, "--seconds", "3", "--json")
    return run_mallsense(*args, cwd=cwd, timeout=30)


@pytest.fixture(scope="module")
def watch_table() -> Result:
    """``wifi watch --file shop.pcap --seconds 1`` (the table a technician sees)."""
    return invoke("wifi", "watch", "--file", SHOP, "--seconds", "1")


@pytest.fixture(scope="module")
def no_such_interface(
    tmp_path_factory: pytest.TempPathFactory,
) -> subprocess.CompletedProcess[str]:
    cwd = tmp_path_factory.mktemp("iface")
    args = ("wifi", "watch", "--interface", "doesnotexist0", "--seconds", "1")
    return run_mallsense(*args, cwd=cwd, timeout=30)
