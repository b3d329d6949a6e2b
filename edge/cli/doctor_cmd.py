"""``mallsense doctor``: the checks a technician would make by hand, one line each, with the fix."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import click
from rich.text import Text

from edge.cli.common import (
    broker_option,
    config_option,
    console,
    fails_cleanly,
    json_option,
    print_json_line,
    timeout_option,
)
from edge.install.layout import USER

__all__ = ["register"]

_MARKS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "-"}
_ASCII_MARKS = {"pass": "ok", "fail": "FAIL", "warn": "warn", "skip": "skip"}
_STYLES = {"pass": "bold green", "fail": "bold red", "warn": "bold yellow", "skip": "dim"}
_NAME_WIDTH = 16
_FIX = " — fix: "


@click.command("doctor")
@config_option()
@timeout_option("a camera, a tool or each step with the broker")
@broker_option()
@click.option(
    "--skip",
    multiple=True,
    metavar="CHECK",
    help="Leave a check out (repeatable): key, wifi, ble, camera, pos, broker, clock, disk,"
    " database.",
)
@click.option(
    "--user",
    "service_user",
    default=USER,
    show_default=True,
    help="The user the services run as (who must own a privacy.key_file).",
)
@json_option()
@fails_cleanly
def doctor_command(
    config_path: Path,
    timeout: float,
    broker: str | None,
    skip: tuple[str, ...],
    service_user: str,
    as_json: bool,
) -> None:
    """Check everything this box needs, one line per check with the fix in words.

    The configuration; the pseudonymization key (present, valid, readable only
    by root or the service user); each Wi-Fi interface (exists, up, in monitor
    mode, the card able to do it); each Bluetooth adapter (present, not blocked,
    powered); each camera (opens, gives a picture, its model is there); each POS
    line (its serial ports open); the broker (DNS, TCP, TLS, login, access rules,
    as `mallsense sync check`); the clock (synchronized); the disk budget
    (store.max_mb fits the disk); the database (PRAGMA quick_check, read-only).

    Run it with sudo: the key and the database are readable only by root and the
    service user. A serial port or USB camera held by the running mallsense-edge
    shows as a warning. Nothing is written, except one test message to the box's
    own .../check topic on the broker.

    --json prints one object per check and per line: {"check", "area",
    "status" (pass, warn, fail, skip), "detail", "fix", "facts"}. Exit status 1
    when any check failed, 0 otherwise (warnings included), 2 on a usage error.

    \b
    Examples:
      sudo mallsense doctor
      sudo mallsense doctor --json > doctor.jsonl    # for remote support
      mallsense doctor --config bench.toml --skip broker --skip clock
      mallsense doctor --broker mqtts://broker.mall.example:8883
    """
    from edge.doctor import SKIPPABLE, Host, run_doctor

    unknown = sorted(set(skip) - set(SKIPPABLE))
    if unknown:
        raise click.BadParameter(
            f"{', '.join(unknown)}: expected one of {', '.join(SKIPPABLE)}", param_hint="--skip"
        )
    host = Host(timeout_s=timeout, service_user=service_user)
    marks, fix_word = _marks()
    tally: Counter[str] = Counter()
    for check in run_doctor(config_path, host, skip, broker):
        tally[check.status] += 1
        if as_json:
            print_json_line(check.as_dict())
            sys.stdout.flush()
            continue
        line = Text()
        line.append(f"{marks[check.status]} ", style=_STYLES[check.status])
        line.append(f"{check.name:<{_NAME_WIDTH}} ", style="bold")
        line.append(check.detail)
        if check.fix:
            line.append(fix_word, style=_STYLES[check.status])
            line.append(check.fix)
        console.print(line, soft_wrap=True)
    if not as_json:
        console.print(Text(_summary(tally)))
    sys.exit(1 if tally["fail"] else 0)


def _marks() -> tuple[dict[str, str], str]:
    """✓ ✗ where the terminal can show them, words on a plain-ASCII console."""
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "".join([*_MARKS.values(), _FIX]).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return _ASCII_MARKS, " -- fix: "
    return _MARKS, _FIX


def _summary(tally: Counter[str]) -> str:
    total = sum(tally.values())
    parts = [
        f"{tally[status]} {word}"
        for status, word in (("pass", "passed"), ("warn", "warned"), ("fail", "failed"))
        if tally[status]
    ]
    if tally["skip"]:
        parts.append(f"{tally['skip']} skipped")
    verdict = "fix the failed checks above" if tally["fail"] else "nothing failed"
    return f"{total} checks: {', '.join(parts)}; {verdict}"


def register(cli: click.Group) -> None:
    cli.add_command(doctor_command)
