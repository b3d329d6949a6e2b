"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from broker import Broker, find_mosquitto


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
