"""``mallsense ble``: is the adapter hearing phones, what does an advertisement say?

``watch`` and ``record`` run the daemon's own scanner (``drivers.ble.source``) on a
live adapter, or on a recording played as one (``--file``). ``decode`` is the pure
decoder. ``$MALLSENSE_BLE_BACKEND=module:Class`` puts a bleak scanner backend in place
of the platform's (bleak's own extension point), for tests and demonstrations.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from drivers.ble.advert_builder import AdvertBuilder, address_type_of
from drivers.ble.decode import decode_ad, parse_ad, to_json
from drivers.ble.recording import RAW_ADDRESS_WARNING, BleRecord, RecordingWriter
from drivers.observations import Advert, Watermark
from drivers.privacy import Pseudonymizer
from edge.cli.ble_view import AdvertWindow, ad_rows, watch_table
from edge.cli.common import console, err_console, fails_cleanly, json_option, print_json_line
from edge.cli.watch import collector, recording_option, seconds_option
from edge.config import load_config
from edge.config.models import BleSensorConfig
from edge.errors import CaptureError, SensorError

__all__ = ["BACKEND_ENV", "register"]

BACKEND_ENV = "MALLSENSE_BLE_BACKEND"
_HEX_JUNK = str.maketrans("", "", " :-_\t\n")
log = logging.getLogger("mallsense.ble")


@click.group("ble")
def ble_group() -> None:
    """BLE sensor tools for technicians.

    \b
    Examples:
      mallsense ble watch --adapter hci0
      mallsense ble decode 0201061aff4c000215...
    """


# -- decode ------------------------------------------------------------------------------


@ble_group.command("decode")
@click.argument("hex_data", metavar="HEX")
@json_option()
@fails_cleanly
def decode_command(hex_data: str, as_json: bool) -> None:
    """Decode one raw advertisement: its AD structures and what they say.

    HEX is the advertising data (AD structures, as btmon or nRF Connect show
    it); spaces, colons, dashes and a 0x prefix are allowed. --json prints the
    contract names (kind, uuid, major, minor, tx_power, namespace, instance,
    url, battery_mv, temperature_c, company_id), then the others.

    \b
    Examples:
      mallsense ble decode 0201061aff4c000215e2c56db5dffb48d2b060d0f5a71096e000010002c5
      mallsense ble decode "02 01 06 03 03 aa fe" --json
    """
    data = _hex_bytes(hex_data)
    decoded = decode_ad(data) if data is not None else None
    if data is None or decoded is None:
        why = "; ".join(parse_ad(data).problems) if data is not None else ""
        raise click.BadParameter(
            f"{hex_data!r} is not an advertisement: expected hex digits holding at least one"
            f" AD structure (length, type, data){f' ({why})' if why else ''}",
            param_hint="HEX",
        )
    ad = parse_ad(data)
    if as_json:
        rows = [{"type": t, "name": n, "data": d} for t, n, d in ad_rows(ad.structures)]
        extra = {"structures": rows, "errors": ad.errors, "problems": list(ad.problems)}
        print_json_line(to_json(decoded) | extra)
        return
    table = Table("type", "AD structure", "data", title="AD structures", title_justify="left")
    for ad_type, name, body in ad_rows(ad.structures):
        table.add_row(f"0x{ad_type:02x}", name, body)
    console.print(table)
    for key, value in to_json(decoded).items():
        if value not in (None, [], ""):
            console.print(f"{key}: {value}", markup=False, highlight=False)
    # Counted and explained: what was left out of the table above, and why.
    for problem in ad.problems:
        console.print(f"warning: {problem}", markup=False, highlight=False, soft_wrap=True)


def _hex_bytes(text: str) -> bytes | None:
    cleaned = text.translate(_HEX_JUNK)
    cleaned = cleaned[2:] if cleaned[:2].lower() == "0x" else cleaned
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        return None


# -- watch -------------------------------------------------------------------------------


@ble_group.command("watch")
@click.option("--adapter", help="Bluetooth adapter (default: the configured sensor's, else hci0).")
@recording_option("recording", "JSON lines")
@seconds_option()
@json_option()
@fails_cleanly
def watch_command(
    adapter: str | None,
    recording: Path | None,
    config_path: Path | None,
    seconds: float | None,
    as_json: bool,
) -> None:
    """Show live advertisements per second, devices by class and RSSI.

    Nothing is stored; devices are told apart by a throwaway pseudonym. Without
    --file it scans the adapter (passively where BlueZ allows, as the daemon).

    \b
    Examples:
      mallsense ble watch --adapter hci0
      mallsense ble watch --file shop.jsonl --seconds 30 --json
    """
    name, source_kwargs = _scanner_setup(adapter, recording, config_path)
    builder = AdvertBuilder(name, Pseudonymizer(secrets.token_bytes(32)))
    window = AdvertWindow()
    lock, emit = collector(window, Advert)

    def show(source: Any, live: Live | None) -> None:
        with lock:
            summary = window.summary(time.time(), builder.frames) | source.stats()
        if live is None:
            print_json_line({"sensor": name, **summary, "rejected": dict(builder.rejected)})
        else:
            live.update(watch_table(name, summary), refresh=True)

    _run_scanner(builder, source_kwargs, emit, seconds, show, as_json)


# -- record ------------------------------------------------------------------------------


@ble_group.command("record")
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (JSON lines). It holds RAW Bluetooth addresses and names.",
)
@click.option("--adapter", help="Bluetooth adapter (default: the configured sensor's, else hci0).")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), help="Configuration file."
)
@click.option("--seconds", type=float, help="Stop after this long (default: until Ctrl-C).")
@fails_cleanly
def record_command(
    out: Path, adapter: str | None, config_path: Path | None, seconds: float | None
) -> None:
    """Record every advertisement the adapter hears, as `mallsense replay --ble` reads.

    WARNING: the file holds raw Bluetooth addresses and device names (what bleak
    reports). It is a technician's local file, for replays and bug reports
    inside the company: never share or upload it, delete it when done. Replaying
    it stores only pseudonyms, as the daemon does.

    \b
    Examples:
      mallsense ble record --out /tmp/shop.jsonl --seconds 600
      mallsense replay --ble /tmp/shop.jsonl --db /tmp/shop.db
    """
    name, source_kwargs = _scanner_setup(adapter, None, config_path)
    err_console.print(f"[yellow]warning:[/] {out}: {RAW_ADDRESS_WARNING}", soft_wrap=True)
    builder = AdvertBuilder(name, Pseudonymizer(secrets.token_bytes(32)))
    started = time.monotonic()
    with RecordingWriter(out, adapter=source_kwargs["adapter"]) as writer:

        def tap(t: float, device: Any, adv: Any) -> None:
            writer.write(_raw_record(t, device, adv))

        def show(_source: Any, _live: Live | None) -> None:
            return None

        _run_scanner(builder, source_kwargs | {"tap": tap}, lambda _batch: None, seconds, show,
                     as_json=True)  # fmt: skip
    elapsed = time.monotonic() - started
    err_console.print(
        f"recorded {writer.records:,} advertisements in {elapsed:.0f} s to {out}"
        f"\nnext: mallsense replay --ble {out} --db /tmp/ble.db",
        markup=False,
        soft_wrap=True,
    )


def _raw_record(t: float, device: Any, adv: Any) -> BleRecord:
    return BleRecord(
        t=t,
        address=device.address,
        address_type=address_type_of(device),
        rssi=adv.rssi,
        local_name=adv.local_name,
        manufacturer_data=dict(adv.manufacturer_data),
        service_data=dict(adv.service_data),
        service_uuids=list(adv.service_uuids),
        tx_power=adv.tx_power,
    )


# -- running the scanner -----------------------------------------------------------------


def _scanner_setup(
    adapter: str | None, recording: Path | None, config_path: Path | None
) -> tuple[str, dict[str, Any]]:
    """The sensor name and ``BleScannerSource`` arguments for these options."""
    kwargs: dict[str, Any] = {"adapter": adapter or "hci0", "passive": True}
    if config_path is not None and adapter is None:
        ble = [s for s in load_config(config_path).sensors if isinstance(s, BleSensorConfig)]
        if not ble:
            raise click.UsageError(f"{config_path} defines no BLE sensor")
        kwargs |= {"adapter": ble[0].adapter, "passive": ble[0].passive}
    if recording is not None:
        from drivers.ble.replay import recording_backend

        try:
            kwargs["backend"] = recording_backend(recording)
        except ValueError as exc:  # RecordingFormatError
            raise CaptureError(str(exc)) from exc
        return recording.name, kwargs
    backend = _env_backend()
    if backend is not None:
        kwargs["backend"] = backend
    return kwargs["adapter"], kwargs


def _env_backend() -> Any:
    spec = os.environ.get(BACKEND_ENV)
    if not spec:
        return None
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise SensorError(f"${BACKEND_ENV}={spec}: no such bleak backend ({exc})") from exc


def _run_scanner(
    builder: AdvertBuilder,
    kwargs: dict[str, Any],
    emit: Callable[[list[Advert | Watermark]], None],
    seconds: float | None,
    show: Callable[[Any, Live | None], None],
    as_json: bool,
) -> None:
    """Scan on a thread, calling ``show`` every second, until time, Ctrl-C or failure."""
    from drivers.ble.source import BleScannerSource

    source = BleScannerSource(builder, **kwargs, silence_timeout_s=float("inf"), reset=lambda: None)
    playback = getattr(kwargs.get("backend"), "playback", None)
    stop = threading.Event()
    errors: list[BaseException] = []
    thread = threading.Thread(target=_scan, args=(source, emit, stop, errors), daemon=True)
    thread.start()
    end = time.monotonic() + seconds if seconds is not None else float("inf")
    live = None if as_json else Live(console=console, auto_refresh=False)
    try:
        with live or contextlib.nullcontext():
            while time.monotonic() < end and thread.is_alive():
                thread.join(timeout=min(1.0, max(end - time.monotonic(), 0)))
                if not thread.is_alive():
                    break  # the scanner failed: its error is reported, not an empty line
                show(source, live)
                if playback is not None and playback.exhausted:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        thread.join(timeout=5)
    if errors:
        raise SensorError(str(errors[0])) from errors[0]


def _scan(source: Any, emit: Any, stop: threading.Event, errors: list[BaseException]) -> None:
    try:
        source.run(emit, stop)
    except OSError as exc:
        errors.append(exc)


def register(cli: click.Group) -> None:
    cli.add_command(ble_group)
