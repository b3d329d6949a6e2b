"""``mallsense demo``: see the whole box work on a laptop."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from edge.cli.common import console, fails_cleanly
from edge.demo.run import DemoResult, may_empty, run_demo

__all__ = ["register"]


def _plain_broker(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """The demo's consumer and agent log in without credentials: mqtt:// only."""
    if value is not None and not value.startswith("mqtt://"):
        raise click.BadParameter(f"{value!r}: the demo speaks plain mqtt://HOST:PORT only")
    return value


@click.command("demo")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the database and the broker's files (emptied first: only a folder an"
    " earlier demo made, or an empty one, unless --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Empty --out even though an earlier demo did not make it (its files are deleted).",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=1),
    default=400.0,
    show_default=True,
    help="How many times faster than real time the shop's two hours are replayed.",
)
@click.option(
    "--broker",
    callback=_plain_broker,
    metavar="URL",
    help="Publish to this broker, mqtt://HOST:PORT without a password (default: start a"
    " local Mosquitto in --out).",
)
@fails_cleanly
def demo_command(out: Path, speed: float, force: bool, broker: str | None) -> None:
    """Run the box on the recordings of a simulated shop (in a source checkout).

    Starts a local Mosquitto (or uses --broker), the sync agent as its own process, and the edge
    pipeline on two Wi-Fi recordings (entrance and sales floor: phones with and
    without randomized MACs, passers-by, a staff scanner); then shows what the
    platform received. Exit status 0 when every record arrived exactly once
    and no MAC address is found in the database or the messages.

    The recordings are in the source repository, not in the installed package:
    run it in a checkout of the repository (`make demo` there sets it all up).

    \b
    Examples:
      mallsense demo --speed 1000
      mallsense demo --broker mqtt://127.0.0.1:1883
    """
    if not force and not may_empty(out):
        raise click.UsageError(
            f"{out} is not empty and was not made by `mallsense demo`, which empties its"
            " folder first: give another --out, or add --force to delete what is in it"
        )
    result = run_demo(out, speed, console, broker)
    _summary(result, out)
    sys.exit(0 if result.ok else 1)


def _summary(r: DemoResult, out: Path) -> None:
    table = Table("record kind", "written", "received", title="delivered to the platform",
                  title_justify="left")  # fmt: skip
    for kind in sorted(set(r.written) | set(r.delivered)):
        table.add_row(kind, f"{r.written.get(kind, 0):,}", f"{r.delivered.get(kind, 0):,}")
    console.print(table)
    f = r.figures
    console.print(
        f"duplicates dropped by the consumer: {r.duplicates}; sequence gaps: {len(r.gaps)}"
    )
    console.print(
        f"privacy: {f['macs_checked']} MAC and Bluetooth addresses of the recordings searched"
        f" in the database and every message: {r.macs_found} found"
    )
    console.print("\n[bold]what the shop learns[/]")
    median, truth_median = f["median_shop_dwell_s"] / 60, f["truth_median_dwell_s"] / 60
    if f["shop_hours"]:
        console.print(
            f"  people on the sales floor, estimated without linking MACs: {f['shop_people']}"
            f" (90 % interval {f['shop_people_low']}-{f['shop_people_high']}) over"
            f" {f['shop_hours']} h, summed by hour (simulation truth:"
            f" {f['truth_people_hours']}); by hour:"
        )
        console.print(_hour_table(f["shop_hour_figures"]))
    console.print(
        f"  for comparison, grouped MAC chains: {f['shop_dwells']} dwells on the sales floor,"
        f" median {median:.1f} min (truth: {f['truth_visitors']} visitors, median"
        f" {truth_median:.1f} min): chains of random MACs split, so they are not used for"
        " people or dwell"
    )
    console.print(
        f"  {f['visits']} visits, {f['visits_through_entrance']} seen entering through the door;"
        f" up to {f['peak_visitors_per_minute']} visitors in one minute"
    )
    console.print(
        f"  {f['randomized_share']:.0%} of phones used randomized MACs; grouping linked"
        f" {f['device_hours_raw']} MAC addresses into {f['device_hours']} devices (counted per"
        f" hour; mean confidence {f['grouping_confidence']})"
    )
    console.print(f"  staff devices left out of visitor figures: {f['staff_excluded']}")
    console.print(
        f"  Bluetooth (phones and watches only, the mall's beacon and a staff tag left out):"
        f" {f['ble_visits']} visits, up to {f['ble_devices_peak']} devices in one minute"
    )
    status = "[green]OK[/]" if r.ok else "[red]FAILED[/]"
    console.print(f"\n{status}  database and broker files in {out}/")


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)


def _hour_table(hours: list[dict[str, Any]]) -> Table:
    """Each hour's estimate beside the simulation's truth for that hour."""
    table = Table("hour (UTC)", "people [truth]", "90 % interval", "present [truth]",
                  "dwell median, min [truth]", "90 % interval", "method (sure phones)", box=None,
                  padding=(0, 1, 0, 4))  # fmt: skip
    for h in hours:
        table.add_row(
            datetime.fromisoformat(h["start"]).astimezone(UTC).strftime("%H:%M"),
            f"{h['people']:.1f} [{_or_dash(h['truth_people'], '{}')}]",
            f"{h['people_low']:.0f}-{h['people_high']:.0f}",
            f"{_or_dash(h['present'], '{:.1f}')} [{_or_dash(h['truth_present'], '{:.1f}')}]",
            f"{_or_dash(_minutes(h['dwell_median_s']), '{:.1f}')}"
            f" [{_or_dash(_minutes(h['truth_dwell_median_s']), '{:.1f}')}]",
            f"{_or_dash(_minutes(h['dwell_median_low_s']), '{:.1f}')}-"
            f"{_or_dash(_minutes(h['dwell_median_high_s']), '{:.1f}')}",
            _method(h),
        )
    return table


def _method(hour: dict[str, Any]) -> str:
    """The dwell method, and how many phones' sure sessions it rests on: four phones'
    median wanders by a quarter either way, whatever the method does with it."""
    method, sure = hour["dwell_method"], hour.get("dwell_sure_sessions")
    if method is None:
        return "-"
    return f"{method} ({sure})" if sure is not None else method


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 60


def _or_dash(value: float | None, spec: str) -> str:
    return "-" if value is None else spec.format(value)
