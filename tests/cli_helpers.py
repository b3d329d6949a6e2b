"""Running ``mallsense`` for the CLI tests: in-process (click's CliRunner) and as a real process.

Both ways start from an environment without mallsense's secrets and settings
(``MALLSENSE_KEY``, ``MALLSENSE_CONFIG``, ...), so a developer's shell cannot
change what a test sees; a test that needs the key passes it explicitly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from edge.cli.main import cli
from edge.store import Store

__all__ = [
    "DEMO_CONFIG",
    "ENTRANCE",
    "ISO_UTC",
    "KEY",
    "MALLSENSE",
    "ROOT",
    "SHOP",
    "Replayed",
    "counts",
    "counts_of",
    "invoke",
    "json_lines",
    "run_mallsense",
    "shared_wifi_data",
    "stored",
    "write_text",
]

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "edge" / "demo" / "samples"
ENTRANCE = SAMPLES / "entrance.pcap"
SHOP = SAMPLES / "shop.pcap"
DEMO_CONFIG = ROOT / "edge" / "demo" / "demo.toml"
KEY = "6d616c6c73656e73652d636c692d74657374732d6b65792d30313233343536"
"""A fixed 32-byte pseudonymization key (hex), as `mallsense keygen` prints one."""

_SETTINGS = (
    "MALLSENSE_KEY",
    "MALLSENSE_CONFIG",
    "MALLSENSE_MQTT_PASSWORD",
    "CREDENTIALS_DIRECTORY",
)
_SCRIPT = Path(sys.executable).with_name("mallsense")
MALLSENSE: list[str] = [str(_SCRIPT)] if _SCRIPT.is_file() else [sys.executable, "-m", "edge.cli"]
"""The console script next to this interpreter (``python -m edge.cli`` if it is missing)."""


def invoke(*args: str | Path, key: str | None = None) -> Result:
    """``mallsense ARGS`` in this process; stdout and stderr are kept apart."""
    env: dict[str, str | None] = dict.fromkeys(_SETTINGS)
    if key is not None:
        env["MALLSENSE_KEY"] = key
    runner = CliRunner(env=env)
    return runner.invoke(cli, [str(a) for a in args], prog_name="mallsense")


def run_mallsense(
    *args: str | Path, cwd: Path, key: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``mallsense ARGS`` as a real process in ``cwd``."""
    env = {k: v for k, v in os.environ.items() if k not in _SETTINGS}
    if key is not None:
        env["MALLSENSE_KEY"] = key
    return subprocess.run(
        [*MALLSENSE, *(str(a) for a in args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` parsed as one JSON object (a line that is not one fails)."""
    objects = []
    for line in text.splitlines():
        obj = json.loads(line)
        assert isinstance(obj, dict), line
        objects.append(obj)
    return objects


@dataclass(frozen=True)
class Replayed:
    """A database written by one ``mallsense replay`` and what that command printed."""

    db: Path
    result: Result


def counts(db: Path) -> dict[str, int]:
    """Stored records by kind."""
    with Store(db, create=False) as store:
        return store.counts()


def stored(db: Path, kind: str | None = None) -> list[dict[str, Any]]:
    """Stored records (oldest first), as published."""
    with Store(db, create=False) as store:
        return list(store.records(kind))


def counts_of(records: list[dict[str, Any]]) -> dict[str, int]:
    """Records by kind."""
    tally: dict[str, int] = {}
    for record in records:
        tally[record["kind"]] = tally.get(record["kind"], 0) + 1
    return tally


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def shared_wifi_data() -> Path:
    """``$MALLSENSE_SHARED_DATA/wifi``, else ``../shared/data/wifi`` next to the repository."""
    configured = os.environ.get("MALLSENSE_SHARED_DATA")
    base = Path(configured) if configured else ROOT.parent / "shared" / "data"
    return base / "wifi"


ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


BLE_SAMPLE = SAMPLES / "ble.jsonl"
# The whole demo shop: both Wi-Fi zones and the shop's BLE scanner.
DEMO_SPECS = (
    "--wifi", f"entrance={ENTRANCE}", "--wifi", f"shop={SHOP}", "--ble", f"shop-ble={BLE_SAMPLE}"
)  # fmt: skip
DWELL_FIELDS = {
    "id", "kind", "schema", "mall", "box", "zone", "device", "randomized",
    "start", "end", "duration_s", "samples", "rssi_max", "partial",
}  # fmt: skip
PRESENCE_FIELDS = {
    "zone", "start", "end", "devices", "visitors", "passersby", "randomized_share",
}  # fmt: skip


def failed_cleanly(result: Result, *needles: str) -> str:
    """Exit 2, nothing on stdout, one plain message on stderr holding every needle."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for needle in needles:
        assert needle in result.stderr
    return result.stderr


def problem_line(stderr: str, key_path: str) -> str:
    """The one ``  - [sensor 'NAME': ]KEY_PATH ...`` line of a ``config validate`` problem
    list (an entry of [[sensors]] or [[zones]] is named before its key path)."""
    named = r"(?:(?:sensor|zone) '[^']*': )?"
    pattern = rf"\s*- {named}{re.escape(key_path)}[ :]"
    lines = [line for line in stderr.splitlines() if re.match(pattern, line)]
    assert len(lines) == 1, f"no single problem line for {key_path!r} in:\n{stderr}"
    return lines[0]
