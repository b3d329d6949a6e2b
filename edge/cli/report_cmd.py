"""``mallsense report``: a day's figures for people, in the terminal and as an HTML page."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click

from edge.cli.common import (
    config_option,
    console,
    db_option,
    err_console,
    fails_cleanly,
    print_json_line,
    resolve_db,
)
from edge.cli.times import mall_timezone
from edge.errors import MallsenseError
from edge.report import KINDS, Report, build_report, day_bounds
from edge.report.figures import local_day
from edge.report.html import render_html
from edge.report.terminal import empty_message, render
from edge.store import Store

__all__ = ["register"]


@click.command("report")
@config_option(required=False)
@db_option()
@click.option(
    "--date",
    "day",
    callback=lambda _ctx, _param, value: _parse_day(value),
    metavar="YYYY-MM-DD",
    help="The day to report, in the mall's time zone (default: today, or the latest day"
    " with records when today has none).",
)
@click.option(
    "--tz",
    "timezone",
    metavar="ZONE",
    help="Time zone of the day and hours, e.g. Asia/Shanghai (default: the configuration's"
    " timezone, else UTC).",
)
@click.option("--zone", help="Only this zone (its traffic, store, camera lines, dwell, flow).")
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write the report with charts to this HTML file (self-contained, works offline).",
)
@click.option("--hourly", is_flag=True, help="Also print hour-by-hour tables.")
@click.option("--json", "as_json", is_flag=True, help="The report's figures as one JSON document.")
@fails_cleanly
def report_command(
    config_path: Path | None,
    db: Path | None,
    day: date | None,
    timezone: str | None,
    zone: str | None,
    html_path: Path | None,
    hourly: bool,
    as_json: bool,
) -> None:
    """A day's figures from the records in the database: visitors, passers-by,
    capture rate and dwell per zone and hour; sales, average ticket and
    conversion per store; camera footfall in and out; the dwell histogram and
    the flow between zones.

    Every figure is a record field or a sum of them (only the latest revision
    of a record counts), so the report agrees with what the platform receives.
    Days and hours are the mall's (`timezone` in the configuration, or --tz).
    Hourly visitors are distinct devices per hour: the day's total is in
    visitor-hours.

    \b
    Examples:
      mallsense report                              today, in the terminal
      mallsense report --date 2026-03-14 --zone shop --hourly
      mallsense report --date 2026-03-14 --html /tmp/shop-12.html
      mallsense report --db box.db --tz Asia/Shanghai
      mallsense report --db /var/lib/mallsense/mallsense.db --json | jq '.stores[].totals'
    """
    path = resolve_db(db, config_path)
    tz = mall_timezone(timezone, db, config_path)
    the_day = day if day is not None else datetime.now(ZoneInfo(tz)).date()
    report = _read(path, the_day, zone, tz)
    if day is None and report.empty and report.latest_day not in (None, the_day):
        # a replayed or older database: its last day, not an empty today
        err_console.print(
            f"no records on {the_day} (today, {tz}); showing {report.latest_day}, the latest"
            " day with records (choose another with --date)",
            soft_wrap=True,
        )
        report = _read(path, report.latest_day, zone, tz)
    if html_path is not None:
        _write_html(html_path, render_html(report, str(path)))
    if as_json:
        print_json_line(report.to_json())
        if report.empty:
            err_console.print(empty_message(report), soft_wrap=True)
    else:
        render(report, console, hourly=hourly)
    if html_path is not None:
        (err_console if as_json else console).print(f"wrote {html_path}", soft_wrap=True)


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date YYYY-MM-DD, e.g. 2026-03-14") from None


def _read(path: Path, day: date, zone: str | None, timezone: str) -> Report:
    since, before = day_bounds(day, timezone)
    with Store(path, readonly=True) as store:
        records = [r for kind in KINDS for r in store.records(kind, since=since, before=before)]
        latest = max((s for kind in KINDS if (s := store.latest_start(kind))), default=None)
        identity = store.identity()
    latest_day = local_day(latest, timezone) if latest else None
    report = build_report(records, day, zone, latest_day, timezone)
    if report.mall is None and identity is not None:
        report = replace(report, mall=identity[0], box=identity[1])
    return report


def _write_html(path: Path, page: str) -> None:
    try:
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise MallsenseError(
            f"cannot write the HTML report to {path}: {exc.strerror}; check that its directory"
            " exists and is writable"
        ) from exc


def register(cli: click.Group) -> None:
    cli.add_command(report_command)
