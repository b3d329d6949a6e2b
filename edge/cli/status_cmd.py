"""``mallsense status``: is the box sensing, recording and uploading?"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from edge.cli.common import (
    config_option,
    console,
    db_option,
    fails_cleanly,
    json_option,
    print_json_line,
    resolve_db,
)
from edge.cli.times import Clock, mall_clock, utc_option
from edge.store import Store
from edge.store.status import collect_status

__all__ = ["collect_status", "register"]


_DAY_S = 86_400.0


def _ago(seconds: float | None, clock: Clock | None = None, now: float = 0.0) -> str:
    """How long ago; past a day, when (a replayed database's last frame is years old)."""
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min ago"
    if seconds < _DAY_S or clock is None:
        return f"{seconds / 3600:.1f} h ago"
    return f"at {clock.show(round(now - seconds), seconds=False)} {clock.label}"  # ages are 0.1 s


@click.command("status")
@config_option(required=False)
@db_option()
@utc_option()
@json_option()
@fails_cleanly
def status_command(config_path: Path | None, db: Path | None, utc: bool, as_json: bool) -> None:
    """Show each sensor's rate and last frame, records, outbox and last upload.

    \b
    Examples:
      mallsense status
      mallsense status --db /var/lib/mallsense/mallsense.db --json
    """
    now = time.time()
    with Store(resolve_db(db, config_path), create=False) as store:
        status = collect_status(store, now)
    if as_json:
        print_json_line(status)
        return
    _print(status, mall_clock(utc, db, config_path), now)


def _print(status: dict[str, Any], clock: Clock, now: float) -> None:
    table = Table("sensor", "kind", "state", "frames/s", "frames", "last frame", "rejected",
                  title="sensors", title_justify="left")  # fmt: skip
    for s in status["sensors"]:
        rejected = sum(s.get("rejected", {}).values())
        table.add_row(
            s["sensor"], s["kind"], s.get("state", "replayed"), f"{s.get('rate_per_s', 0):.1f}",
            f"{s.get('frames', 0):,}", _ago(s["last_frame_age_s"], clock, now), f"{rejected:,}",
        )  # fmt: skip
    console.print(table if status["sensors"] else "sensors: none has reported yet")
    _print_watchdogs(status["sensors"])
    for s in status["sensors"]:  # POS: the printer's text encoding, configured or detected
        if s.get("encoding"):
            console.print(f"sensor {s['sensor']}: printer encoding {s['encoding']}", markup=False)
    records = ", ".join(f"{n:,} {k}" for k, n in status["records"].items()) or "none"
    console.print(f"records: {records}")
    outbox, uplink = status["outbox"], status["uplink"]
    oldest = outbox["oldest_age_s"]
    console.print(
        f"outbox: {outbox['depth']:,} waiting"
        + (f", oldest {_ago(oldest).removesuffix(' ago')} old" if oldest is not None else "")
    )
    state = "[green]connected[/]" if uplink["connected"] else "[yellow]not connected[/]"
    platform = f", platform {uplink['platform']}" if uplink.get("platform") else ""
    console.print(
        f"uplink: {state}, last upload {_ago(uplink['last_upload_age_s'], clock, now)},"
        f" {uplink['records_sent']:,} records sent, {uplink['reconnects']} reconnects{platform}"
    )
    if uplink.get("stream"):
        acked = uplink.get("last_acked_seq")
        console.print(
            f"uplink: stream {uplink['stream']}, last batch seq {uplink['last_seq']},"
            f" last acknowledged {acked if acked is not None else 'none'}",
            markup=False,
        )
    _print_held(status)
    _print_losses(status)


def _print_held(status: dict[str, Any]) -> None:
    """Data kept on the box on purpose (nobody to receive it), and a client id taken."""
    uplink, depth = status["uplink"], status["outbox"]["depth"]
    if uplink.get("held"):
        console.print(
            f"uplink: data held, {depth:,} records kept in the outbox: {uplink['held']}",
            markup=False,
        )
    if uplink.get("takeovers"):
        console.print(
            f"uplink: another client took this box's client id {uplink['takeovers']} time(s);"
            " check that no other box uses this box's client id or certificate",
            markup=False,
        )


def _print_watchdogs(sensors: list[dict[str, Any]]) -> None:
    """What the sensors' own watchdogs did (a BLE scanner restarted, its adapter reset, a
    camera's process or its shared detector restarted)."""
    for s in sensors:
        restarts, resets = s.get("scanner_restarts", 0), s.get("adapter_resets", 0)
        failed = s.get("adapter_reset_failures", 0)
        if restarts or resets or failed:
            console.print(
                f"sensor {s['sensor']}: {restarts} scanner restart(s), {resets} adapter"
                f" reset(s){f', {failed} failed' if failed else ''}"
                f" (scanning {s.get('scan_mode', '?')} on {s.get('adapter', '?')})",
                markup=False,
            )
        processes, detector = s.get("child_restarts", 0), s.get("detector_restarts", 0)
        if processes or detector:  # a camera: its own process, and the shared detector
            console.print(
                f"sensor {s['sensor']}: camera process restarted {processes} time(s), shared"
                f" detector {detector} time(s), {s.get('detector_waits', 0)} frame(s) waited"
                " for it; the daemon's log says why (journalctl -u mallsense-edge)",
                markup=False,
            )


def _print_losses(status: dict[str, Any]) -> None:
    """Drops and quarantine: records that did not (or will not) reach the platform."""
    drops = status["drops"]
    lost = ", ".join(f"{n:,} {reason.replace('.', ' ')}" for reason, n in drops.items())
    console.print(f"dropped before delivery: {lost or 'none'}", markup=False)
    if status.get("records_lost"):
        console.print(
            f"lost: {status['records_lost']:,} records the edge daemon could not write to the"
            " database (disk full); see its log",
            markup=False,
        )
    quarantine = status["quarantine"]
    if not quarantine["count"]:
        console.print("quarantine: empty")
        return
    last, count = quarantine["last"], quarantine["count"]
    console.print(
        f"quarantine: {count:,} record{'s' if count != 1 else ''} the broker will never accept"
        " (latest:"
        f" {last['kind']} {last['record_id']}: {last['reason']}); they stay in the database's"
        " quarantine table",
        markup=False,
    )


def register(cli: click.Group) -> None:
    cli.add_command(status_command)
