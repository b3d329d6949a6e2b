"""``mallsense pos``: tools for a technician at a shop's receipt printer line.

- ``parse``: decode a recording (or a raw byte dump) into receipts;
- ``capture``: record a live line into the capture format;
- ``sniff``: show receipts live as they print (the daemon's own source);
- ``test-template``: what a store's template reads, next to the default extractor;
- ``receipts``: the masked receipt texts the box keeps for a few hours.

pyserial is imported by the commands that open a port, so ``pos parse`` works
on any machine with a recording.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from drivers.pos.decoder import decode_chunks
from drivers.pos.line.capture_format import Capture, read_capture_file
from drivers.pos.result import Receipt
from edge.cli.common import (
    config_option,
    console,
    db_option,
    err_console,
    fails_cleanly,
    json_option,
    print_json_line,
    resolve_db,
)
from edge.cli.pos_view import (
    comparison_table,
    print_receipt,
    print_totals,
    receipt_json,
)
from edge.config import load_config
from edge.config.explain import describe_errors
from edge.errors import CaptureError, ConfigError
from edge.sensors.pos.config import PosSensorConfig
from edge.store import Store
from edge.store.receipts import receipt_texts

__all__ = ["line_options", "register", "sensor_for"]

F = TypeVar("F", bound=Callable[..., Any])


# -- shared options and helpers -----------------------------------------------------------------


def line_options(func: F) -> F:
    """--baud, --bytesize, --parity, --stopbits, --flow (unset: configuration or defaults)."""
    options = [
        click.option("--baud", help="Bits per second, or 'auto' (default: auto)."),
        click.option("--bytesize", type=click.Choice(["5", "6", "7", "8"]), help="Data bits."),
        click.option("--parity", type=click.Choice(["N", "E", "O", "M", "S"]), help="Parity."),
        click.option("--stopbits", type=click.Choice(["1", "1.5", "2"]), help="Stop bits."),
        click.option(
            "--flow", type=click.Choice(["none", "rtscts", "xonxoff", "dsrdtr"]), help="Flow."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _read(path: Path) -> Capture:
    try:
        capture = read_capture_file(path)
    except OSError as exc:
        raise CaptureError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if capture.header is None and capture.error:
        raise CaptureError(f"{path} is a damaged capture file: {capture.error}")
    if capture.error:
        err_console.print(
            f"[yellow]warning:[/] {path}: {capture.error}; {capture.leftover:,} bytes at the end"
            " ignored (the recording was cut short)",
            soft_wrap=True,
        )
    return capture


def sensor_for(
    port: str | None,
    config_path: Path | None,
    sensor_name: str | None = None,
    store: str | None = None,
    overrides: dict[str, Any] | None = None,
) -> PosSensorConfig:
    """The POS sensor a command works with: from the configuration if given, with overrides."""
    base: dict[str, Any] = {"type": "pos", "name": "cli", "zone": "cli", "store": "cli"}
    if config_path is not None:
        found = _configured(load_config(config_path).sensors, port, sensor_name, store)
        base = found.model_dump(exclude_none=True)
        base["templates"] = [t.model_dump(exclude_none=True) for t in found.templates]
    if port is not None:
        base["port"] = port
    base.setdefault("port", "-")
    base |= {key: value for key, value in (overrides or {}).items() if value is not None}
    try:
        return PosSensorConfig.model_validate(base)
    except ValidationError as exc:
        raise click.UsageError("; ".join(describe_errors(exc, base, PosSensorConfig))) from None


def _configured(
    sensors: list[Any], port: str | None, name: str | None, store: str | None
) -> PosSensorConfig:
    pos = [s for s in sensors if isinstance(s, PosSensorConfig)]
    if name is not None:
        chosen = [s for s in pos if s.name == name]
    elif store is not None:
        chosen = [s for s in pos if s.store == store]
    else:
        chosen = [s for s in pos if port in (s.port, s.passthrough_port)]
    if not chosen:
        what = f"sensor {name}" if name else f"store {store}" if store else f"port {port}"
        known = ", ".join(f"{s.name} (store {s.store}, {s.port})" for s in pos) or "none"
        raise ConfigError(f"no POS sensor for {what} in the configuration (POS sensors: {known})")
    return chosen[0]


def _overrides(baud: str | None, bytesize: str | None, **rest: str | None) -> dict[str, Any]:
    return {"baudrate": baud, "bytesize": int(bytesize) if bytesize else None, **rest}


@click.group("pos")
def pos_group() -> None:
    """Receipt printer lines: decode recordings, record a line, watch receipts, check templates.

    \b
    Examples:
      mallsense pos parse shop.poscap
      mallsense pos capture /dev/ttyUSB0 --out shop.poscap --seconds 600
      mallsense pos sniff /dev/ttyUSB0 --config /etc/mallsense/mallsense.toml
    """


# -- parse ----------------------------------------------------------------------------------------


@pos_group.command("parse")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--encoding", help="The printer's text encoding (default: the capture's, or cp437).")
@click.option("--currency", help="ISO 4217 code when receipts print none or only '$', '¥'.")
@click.option(
    "--idle-gap", type=click.FloatRange(min=0.01), default=3.0, show_default=True,
    help="Seconds of silence that end an uncut receipt (recordings only: a dump has no times).",
)  # fmt: skip
@click.option("--text", "show_text", is_flag=True, help="Also print each receipt's masked text.")
@json_option()
@fails_cleanly
def parse_command(
    file: Path,
    encoding: str | None,
    currency: str | None,
    idle_gap: float,
    show_text: bool,
    as_json: bool,
) -> None:
    """Decode a capture file or a raw byte dump into receipts.

    With --json, one object per receipt: text (masked), total (negative for a
    refund), currency, items, receipt_no, printed_at, payment, refund,
    raster_only, extractor, confidence, and more.

    \b
    Examples:
      mallsense pos parse shop.poscap
      mallsense pos parse printer-dump.bin --encoding gb18030 --currency CNY --json
    """
    capture = _read(file)
    header_encoding = capture.header.encoding if capture.header else None
    chosen = sensor_for(None, None, overrides={"encoding": encoding or header_encoding,
                        "currency": currency, "idle_gap_s": idle_gap})  # fmt: skip
    receipts = _decode(capture, chosen)
    for number, receipt in enumerate(receipts, 1):
        if as_json:
            print_json_line(receipt_json(receipt))
        else:
            print_receipt(number, receipt, show_text)
    if not as_json:
        print_totals(receipts)


def _decode(capture: Capture, sensor: PosSensorConfig, templates: bool = True) -> list[Receipt]:
    from edge.sensors.pos.settings import decoder_factory

    if not templates:
        sensor = sensor.model_copy(update={"templates": []})
    return decode_chunks(capture.to_printer(), decoder_factory(sensor)())


# -- test-template --------------------------------------------------------------------------------


@pos_group.command("test-template")
@click.option("--store", "store_id", required=True, help="Store id of the POS sensor.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@config_option()
@click.option("--text", "show_text", is_flag=True, help="Also print each receipt's masked text.")
@json_option()
@fails_cleanly
def test_template_command(
    store_id: str, file: Path, config_path: Path, show_text: bool, as_json: bool
) -> None:
    """Show what the store's templates read from a recording, next to the default extractor.

    The templates are the [[sensors.templates]] of the store's POS sensor in
    the configuration; edit them and run this again until the fields are right.

    \b
    Examples:
      mallsense pos test-template --store b1-07 bakery.poscap --config box.toml
      mallsense pos test-template --store b1-07 bakery.poscap --json
    """
    sensor = sensor_for(None, config_path, store=store_id)
    if not sensor.templates:
        raise ConfigError(
            f"store {store_id} has no templates in {config_path}; add [[sensors.templates]]"
            f" under its POS sensor {sensor.name} (see docs/pos.md)"
        )
    capture = _read(file)
    with_templates, default = _decode(capture, sensor), _decode(capture, sensor, templates=False)
    for number, (ours, theirs) in enumerate(zip(with_templates, default, strict=True), 1):
        if as_json:
            print_json_line({"receipt": number, "template": receipt_json(ours),
                             "default": receipt_json(theirs)})  # fmt: skip
            continue
        console.print(comparison_table(number, ours, theirs))
        if show_text:
            print_receipt(number, ours, show_text=True)
    if not as_json and not with_templates:
        console.print(f"no receipt found in {file}")


# -- capture --------------------------------------------------------------------------------------


@pos_group.command("capture")
@click.argument("port")
@click.option(
    "--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
    help="Capture file to write (the format `pos parse` and `run --simulate` read).",
)  # fmt: skip
@line_options
@click.option("--passthrough", metavar="PORT", help="Forward everything to the printer on PORT.")
@click.option("--encoding", help="The printer's text encoding, noted in the file for `pos parse`.")
@click.option("--seconds", type=click.FloatRange(min=0.1), help="Stop after this long.")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
@fails_cleanly
def capture_command(
    port: str,
    out: Path,
    passthrough: str | None,
    encoding: str | None,
    seconds: float | None,
    force: bool,
    **line: str | None,
) -> None:
    """Record a live printer line into a capture file (until Ctrl-C or --seconds).

    Plug the box's adapter into the line (a tap cable, or --passthrough with
    the printer on a second port so it keeps printing), then print receipts.
    The file is the raw line: card and phone numbers in it are not masked
    (decoding masks them), so it is created readable by you only (mode 0600);
    keep it on this box and delete it when done.

    \b
    Examples:
      mallsense pos capture /dev/ttyUSB0 --out shop.poscap --baud auto
      mallsense pos capture /dev/serial/by-id/usb-FTDI-if00-port0 --out shop.poscap \\
          --baud 19200 --passthrough /dev/ttyUSB1 --seconds 3600
    """
    from edge.cli.pos_live import record_line

    if out.exists() and not force:
        raise click.UsageError(f"{out} exists; give --force to overwrite it")
    sensor = sensor_for(port, None, overrides=_overrides(**line) | {"passthrough_port": passthrough,
                        "encoding": encoding})  # fmt: skip
    record_line(sensor, out, encoding, seconds, force)


# -- sniff ----------------------------------------------------------------------------------------


@pos_group.command("sniff")
@click.argument("port")
@config_option(required=False)
@click.option("--sensor", "sensor_name", help="POS sensor of --config (default: the one on PORT).")
@line_options
@click.option(
    "--encoding", help="The printer's text encoding (default: the config's, else detected)."
)
@click.option("--currency", help="ISO 4217 code when receipts print none or only '$', '¥'.")
@click.option("--seconds", type=click.FloatRange(min=0.1), help="Stop after this long.")
@click.option("--text", "show_text", is_flag=True, help="Also print each receipt's masked text.")
@json_option()
@fails_cleanly
def sniff_command(
    port: str,
    config_path: Path | None,
    sensor_name: str | None,
    encoding: str | None,
    currency: str | None,
    seconds: float | None,
    show_text: bool,
    as_json: bool,
    **line: str | None,
) -> None:
    """Show receipts live as they print (until Ctrl-C or --seconds).

    With --config, the POS sensor on PORT (or --sensor) gives the settings,
    templates and passthrough port, so what you see is what the daemon records.
    Stop the mallsense-edge service first: a port has one reader.

    \b
    Examples:
      mallsense pos sniff /dev/ttyUSB0 --baud 19200 --encoding gb18030 --text
      mallsense pos sniff /dev/ttyUSB0 --config /etc/mallsense/mallsense.toml --json
    """
    from edge.cli.pos_live import sniff_line
    from edge.sensors.pos.settings import encoding_text

    overrides = _overrides(**line) | {"encoding": encoding, "currency": currency}
    sensor = sensor_for(port, config_path, sensor_name, overrides=overrides)
    count = 0

    def show(receipts: list[Receipt]) -> None:
        nonlocal count
        for receipt in receipts:
            count += 1
            if as_json:
                print_json_line(receipt_json(receipt, count))
            else:
                print_receipt(count, receipt, show_text)

    stats = sniff_line(sensor, show, seconds)
    if not as_json:
        err_console.print(
            f"{count} receipt(s); {stats.get('bytes', 0):,} bytes read at"
            f" {stats.get('baudrate') or 'an unknown rate'} baud; printer encoding"
            f" {encoding_text(stats)}",
            soft_wrap=True,
            markup=False,
        )


# -- receipts (kept texts) ------------------------------------------------------------------------


@pos_group.command("receipts")
@config_option(required=False)
@db_option()
@click.option("--store", "store_id", help="Only this store's receipts.")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=20,
    show_default=True,
    help="Show at most this many receipts, the latest.",
)
@json_option()
@fails_cleanly
def receipts_command(
    config_path: Path | None, db: Path | None, store_id: str | None, limit: int, as_json: bool
) -> None:
    """Show the masked receipt texts this box keeps (raw_text_retention_h), newest first.

    They never leave the box; each is keyed by its transaction record's id.

    \b
    Examples:
      mallsense pos receipts --store b1-07 --limit 5
      mallsense pos receipts --db /var/lib/mallsense/mallsense.db --json
    """
    with Store(resolve_db(db, config_path), create=False) as store:
        kept = receipt_texts(store, store_id=store_id, now=time.time(), limit=limit)
    for row in kept:
        if as_json:
            print_json_line(row._asdict())
            continue
        console.print(
            f"[bold]{row.start}[/] store {row.store} (sensor {row.sensor}), record {row.record_id},"
            f" {row.extractor} {row.confidence:.2f}"
        )
        for text_line in row.text.split("\n"):
            console.print(f"  | {text_line}", markup=False, soft_wrap=True)
    if not kept and not as_json:
        console.print("no receipt text kept" + (f" for store {store_id}" if store_id else ""))


def register(cli: click.Group) -> None:
    cli.add_command(pos_group)
