"""``benchmarks/fleet.py`` as a test (issue 16, part 4): boxes -> Mosquitto -> ingest -> PostgreSQL.

A small fleet, with a worker killed every half second and the broker restarted once,
must end with every record in PostgreSQL exactly once and no seq gap open. The same
script, with ``--boxes 1000``, is the fault run in docs/performance.md.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fixtures.local_postgres import find_pg_bin

from edge.demo.broker import find_mosquitto

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parent.parent


def test_a_fleet_with_worker_kills_and_a_broker_restart_loses_and_doubles_nothing() -> None:
    if find_mosquitto() is None or find_pg_bin() is None:
        pytest.skip("mosquitto and PostgreSQL are needed (`make tools` installs them)")
    done = subprocess.run(
        [sys.executable, "benchmarks/fleet.py", "--boxes", "40", "--records-per-box", "3000",
         "--workers", "2", "--publishers", "2", "--kill-every", "0.5", "--restart-broker",
         "--plain-records", "100", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run = json.loads(done.stdout.strip().splitlines()[-1])["runs"][0]
    assert run["records"] == 40 * 3000
    assert (run["missing"], run["duplicated"], run["unexpected"], run["open_gaps"]) == (0, 0, 0, 0)
    assert run["broker_restarted"] is True
    assert run["kills"] >= 1
