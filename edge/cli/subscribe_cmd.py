"""``mallsense subscribe``: the reference consumer, what the central platform should do.

stdout carries only records (a line each), so ``| jq`` or ``> records.jsonl``
gets nothing else; everything about the stream (status, telemetry, commands,
gaps, re-sends, invalid payloads, the closing summary) goes to stderr, as
short lines or, with ``--json``, as JSON objects with a ``message`` field.

Whatever a publisher sends, the listening goes on: an unreadable payload is an
``invalid`` event and a count, a failure while handling one is counted as an error
and told in one line, and both make the exit status 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from edge.cli.common import broker_login_options, fails_cleanly
from edge.config.secrets import PASSWORD_ENV

if TYPE_CHECKING:
    from sync.consumer import Consumer, Event

__all__ = ["register"]

_CONNECT_TIMEOUT_S = 10.0
_TICK_S = 0.1
_MIN_PACKET_BYTES = 64 * 1024  # below a status or telemetry message with its header


def _topic_level(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and (not value or any(c in value for c in "/+#")):
        raise click.BadParameter(f"{value!r} must be one topic level: no '/', '+' or '#'")
    return value


class _Printer:
    """Turns consumer events into lines; stops quietly when stdout's reader goes away."""

    def __init__(self, as_json: bool, stop: threading.Event) -> None:
        self.as_json = as_json
        self.stop = stop
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        if event.type == "record":
            self.out(_json(event.data) if self.as_json else _record_line(event.data))
        elif self.as_json:
            self.err(_json(_event_object(event)))
        else:
            self.err(_event_line(event))

    def out(self, line: str) -> None:
        self._write(sys.stdout, line)

    def err(self, line: str) -> None:
        self._write(sys.stderr, line)

    def _write(self, stream: Any, line: str) -> None:
        if self.stop.is_set() and stream is sys.stdout:
            return
        with self._lock:
            try:
                stream.write(line + "\n")
                stream.flush()  # a line at a time: the reader may be a live `| jq`
            except BrokenPipeError:
                self.stop.set()


def _json(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _when(value: Any) -> str:
    return str(value).replace("T", " ").removesuffix("Z")[:19] if value else "?"


def _record_line(r: dict[str, Any]) -> str:
    kind = str(r.get("kind"))
    if kind == "dwell":
        detail = (
            f"zone {r.get('zone')}  device {r.get('device')}  {r.get('duration_s')} s"
            f"  {r.get('samples')} samples"
        )
    elif kind == "visit":
        path = r.get("path")
        path = path if isinstance(path, list) else []
        zones = " → ".join(str(stop.get("zone")) for stop in path if isinstance(stop, dict))
        detail = f"device {r.get('device')}  {zones}  {r.get('duration_s')} s"
    elif kind == "presence":
        detail = (
            f"zone {r.get('zone')}  {r.get('devices')} devices ({r.get('visitors')} visitors,"
            f" {r.get('passersby')} passers-by)"
        )
    else:
        detail = f"id {r.get('id')}"
    flags = "".join(f"  [{flag}]" for flag in ("historical", "partial") if r.get(flag))
    return (
        f"{_when(r.get('start'))}  {r.get('box')}  {kind:<8}  seq {r.get('seq')}  {detail}{flags}"
    )


def _event_object(event: Event) -> dict[str, Any]:
    if event.type in {"gap", "resend", "stream", "invalid"}:
        return {"message": event.type, **event.data}
    return {"message": event.type, "topic": event.topic, "box": event.box, "payload": event.data}


def _event_line(event: Event) -> str:
    d, box = event.data, event.box
    name = event.topic.split("/")[5] if event.topic.count("/") >= 5 else "?"
    if event.type == "status":
        reason = f" ({d['reason']})" if d.get("reason") else ""
        return (
            f"status {box}: {d.get('state')}{reason}, version {d.get('version')},"
            f" {d.get('reconnects')} reconnects, started {d.get('started_at')}"
        )
    if event.type == "telemetry":
        drops = d.get("drops")
        counts = (
            [n for n in drops.values() if isinstance(n, int)] if isinstance(drops, dict) else []
        )
        return (
            f"telemetry {box}: outbox {d.get('outbox_depth')} (oldest"
            f" {d.get('outbox_oldest_age_s')} s), {d.get('records_sent')} sent,"
            f" {sum(counts)} dropped"
        )
    if event.type == "command":
        return f"command {box}: {name} (id {d.get('id')})"
    if event.type == "reply":
        outcome = "ok" if d.get("ok") else f"error: {d.get('error')}"
        return f"reply {box}: {name} (id {d.get('id')}) {outcome}"
    if event.type == "gap":
        told = (
            " (its telemetry says the broker took them)" if d.get("seen_in") == "telemetry" else ""
        )
        return (
            f"GAP {box}{_in_stream(d)}: batches {d['from_seq']}..{d['to_seq']} never arrived"
            f"{told} (ask the box for them: cmd/resend)"
        )
    if event.type == "resend":
        filled = ", fills a gap" if d["filled_gap"] else ""
        return (
            f"re-sent {box}{_in_stream(d)}: batch {d['seq']} (highest so far"
            f" {d['last_seq']}){filled}"
        )
    if event.type == "stream":
        return (
            f"new stream {box}: {d['stream']} after {d['previous']} (a new database: seq"
            f" numbering starts again, at {d['seq']}; not a replay)"
        )
    return f"INVALID {d.get('topic')}: {d.get('reason')}"


def _in_stream(data: dict[str, Any]) -> str:
    return f" stream {data['stream']}" if data.get("stream") else ""


def _summary_lines(summary: dict[str, Any]) -> list[str]:
    kinds = ", ".join(f"{k} {n}" for k, n in summary["by_kind"].items()) or "none"
    lines = [
        f"summary: {summary['records']} records ({kinds}), {summary['historical']} historical;"
        f" {summary['duplicates']} duplicates dropped; {summary['envelopes']} batches,"
        f" {summary['resends']} re-sent; {len(summary['gaps'])} gaps;"
        f" {summary.get('new_streams', 0)} new streams;"
        f" {summary['invalid']} invalid payloads"
    ]
    if summary.get("rejected"):
        kinds = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in summary["rejected"].items())
        lines.append(f"refused before parsing: {kinds}")
    if summary.get("errors"):
        lines.append(
            f"{summary['errors']} messages could not be handled (last: {summary['last_error']})"
        )
    for key, ranges in summary["missing"].items():
        seqs = ", ".join(f"{a}..{b}" if a != b else str(a) for a, b in ranges)
        box, _, stream = key.partition("/")
        lines.append(
            f"still missing from {box}{f' stream {stream}' if stream else ''}: batches {seqs}"
        )
    return lines


def _exit_code(summary: dict[str, Any]) -> int:
    return 1 if summary["invalid"] or summary["missing"] or summary.get("errors") else 0


def _listen(consumer: Consumer, stop: threading.Event, idle_exit: float | None) -> str | None:
    """Wait for a signal or the idle time; the reason if the listening broke down instead."""

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(_TICK_S):
        if not consumer.network_alive():  # never wait on, receiving nothing, and exit 0
            return "the MQTT network thread stopped; nothing more can be received"
        if idle_exit is not None and consumer.idle_for() >= idle_exit:
            return None
    return None


@click.command("subscribe")
@click.option("--broker", required=True, help="Broker URL mqtt://HOST:PORT or mqtts://HOST:PORT.")
@click.option("--mall", required=True, callback=_topic_level, help="Mall id to listen to.")
@click.option("--box", callback=_topic_level, help="Only this box (default: every box).")
@click.option("--validate", is_flag=True, help="Check every payload against the JSON Schemas.")
@click.option(
    "--json", "as_json", is_flag=True, help="JSON lines (records on stdout, rest on stderr)."
)
@click.option(
    "--idle-exit",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Exit after this many seconds without a message (default: run until Ctrl-C).",
)
@broker_login_options
@click.option(
    "--max-packet-bytes",
    type=click.IntRange(min=_MIN_PACKET_BYTES, max=256 * 1024 * 1024),
    metavar="BYTES",
    help="Largest MQTT packet accepted; the broker drops bigger ones (they show as a gap)."
    " Default 8454144: the largest mqtt.batch_max_bytes a box allows (8 MiB) plus 64 KiB.",
)
@fails_cleanly
def subscribe_command(
    broker: str,
    mall: str,
    box: str | None,
    validate: bool,
    as_json: bool,
    idle_exit: float | None,
    ca_file: Path | None,
    cert_file: Path | None,
    key_file: Path | None,
    username: str | None,
    max_packet_bytes: int | None,
) -> None:
    """Listen to a mall's boxes as the central platform does: the reference consumer.

    Subscribes to mallsense/v1/MALL/# (or MALL/BOX/#), drops duplicate records (same
    id), reports gaps in the batch seq of each box and stream (a lower seq is a batch
    sent again, not a gap; one inside a gap fills it; a new stream is a new database,
    numbered from 1, not a replay) and, with --validate, checks every payload against
    the JSON Schemas of `mallsense contract`.

    \b
    Output:
      stdout   one line per new record; with --json the record as published (with
               "historical") plus its envelope's "seq" and "stream": each line is valid
               against docs/schemas/KIND.json
      stderr   status, telemetry, commands, replies, gaps, re-sends, new streams, invalid
               payloads and a summary at exit; with --json one JSON object per line whose
               "message" is status|telemetry|command|reply|gap|resend|stream|invalid|
               subscribed|summary
    Exit status: 0 clean; 1 invalid payloads were seen or batches are still missing;
    2 the broker cannot be reached or refused.

    \b
    Examples:
      mallsense subscribe --broker mqtt://127.0.0.1:1883 --mall demo-mall
      mallsense subscribe --broker mqtts://broker.example:8883 --mall m1 --box shop-12 \\
          --validate --json --idle-exit 30 > records.jsonl
    """
    from sync.consumer import Consumer  # lazy: paho only for the commands that talk MQTT
    from sync.payload_limits import CONSUMER_MAX_PACKET_BYTES

    if not broker.strip().lower().startswith("mqtts://") and (ca_file or cert_file or key_file):
        raise click.UsageError("--ca-file, --cert-file and --key-file need an mqtts:// --broker")
    stop = threading.Event()
    printer = _Printer(as_json, stop)
    try:
        consumer = Consumer(
            broker, mall, box=box, validate=validate, on_event=printer, keep_records=False,
            ca_file=ca_file, cert_file=cert_file, key_file=key_file, username=username,
            password=os.environ.get(PASSWORD_ENV) or None, start=False,
            max_packet_bytes=max_packet_bytes or CONSUMER_MAX_PACKET_BYTES,
        )  # fmt: skip
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--broker") from exc
    try:
        consumer.connect(_CONNECT_TIMEOUT_S)
        _announce(printer, consumer, validate, idle_exit)
        broken = _listen(consumer, stop, idle_exit)
    finally:
        consumer.close()
    if broken is not None:
        printer.err(_json({"message": "error", "reason": broken}) if as_json else broken)
        consumer.stats.errors += 1
    summary = consumer.summary()
    if as_json:
        printer.err(_json({"message": "summary", **summary}))
    else:
        for line in _summary_lines(summary):
            printer.err(line)
    sys.exit(_exit_code(summary))


def _announce(
    printer: _Printer, consumer: Consumer, validate: bool, idle_exit: float | None
) -> None:
    if printer.as_json:
        info = {"topic": consumer.topic_filter, "broker": str(consumer.url), "validate": validate}
        printer.err(_json({"message": "subscribed", **info}))
        return
    until = f"exits after {idle_exit:g} s without a message" if idle_exit else "Ctrl-C to stop"
    checking = ", validating payloads" if validate else ""
    printer.err(f"listening to {consumer.topic_filter} at {consumer.url}{checking} ({until})")


def register(cli: click.Group) -> None:
    cli.add_command(subscribe_command)
