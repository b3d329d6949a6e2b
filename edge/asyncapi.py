"""The AsyncAPI 3.0 document of the MQTT contract, built from ``edge.contract``'s tables.

Kept apart from ``edge.contract`` so that module stays about the schemas and
their checks; this one only knows the shape AsyncAPI wants. Operations are
written from the box's side (it *sends* data, status, telemetry and replies and
*receives* commands and the platform's state), as AsyncAPI 3 describes one
application. QoS and retain are MQTT operation bindings (binding version
0.2.0), the only place AsyncAPI has for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import yaml
from pydantic import BaseModel

from edge.messages import (
    COMMANDS,
    CONTRACT_VERSION,
    ON_WIRE,
    SEQ_TEXT,
    Batch,
    CommandReply,
    CommandRequest,
    PlatformState,
    ResendArgs,
    SensorHealth,
    Status,
    Telemetry,
)
from edge.records import ZoneStop, record_id, utc

__all__ = [
    "ASYNCAPI_VERSION",
    "MQTT_BINDING_VERSION",
    "Channel",
    "build_document",
    "dump_yaml",
    "example_payloads",
]

ASYNCAPI_VERSION = "3.0.0"
MQTT_BINDING_VERSION = "0.2.0"
_PARAMETERS: dict[str, Any] = {
    "mall": {"description": "Mall id (`mall` in mallsense.toml).", "examples": ["demo-mall"]},
    "box": {"description": "Box id (`box` in mallsense.toml).", "examples": ["shop-12"]},
    "name": {"description": "Command name.", "enum": list(COMMANDS)},
    "platform": {"description": "The platform's own id.", "examples": ["central"]},
}
_REPLIES = {"command": "commandReply"}
"""A receiving channel's key -> the key of the channel its reply goes out on."""


@dataclass(frozen=True, slots=True)
class Channel:
    """One MQTT topic pattern of the contract and what travels on it."""

    key: str
    """AsyncAPI channel id, e.g. ``dataDwell``."""
    address: str
    """Topic with ``{parameters}``, e.g. ``mallsense/v1/{mall}/{box}/data/dwell``."""
    message: str
    """AsyncAPI message id, e.g. ``dwellBatch``."""
    schema: str
    """Schema name (file ``docs/schemas/<schema>.json``, component ``<title>``)."""
    title: str
    """The payload model's name: its key under components/schemas."""
    action: Literal["send", "receive"]
    """What the box does on this channel."""
    operation: str
    qos: int
    retain: bool
    summary: str
    description: str

    def parameter_names(self) -> list[str]:
        """The ``{names}`` in the address, in order."""
        return [part[1:-1] for part in self.address.split("/") if part.startswith("{")]


def build_document(
    software: str,
    channels: tuple[Channel, ...],
    schemas: dict[str, Any],
    examples: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """The whole document as plain data, in a fixed order (``dump_yaml`` keeps it).

    ``schemas`` are the components: every payload schema by model name, with
    references of the form ``#/components/schemas/Name``. ``examples``: payloads by
    schema name (``example_payloads``). The document's version is the contract's
    (``CONTRACT_VERSION``), not the software's, which ``software`` names.
    """
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(software),
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": {c.key: _channel(c) for c in channels},
        "operations": {c.operation: _operation(c, channels) for c in channels},
        "components": {
            "schemas": schemas,
            "messages": {c.message: _message(c, examples.get(c.schema, [])) for c in channels},
            "parameters": _PARAMETERS,
        },
    }


def _info(software: str) -> dict[str, Any]:
    return {
        "title": "mallsense box uplink",
        "version": CONTRACT_VERSION,
        "description": (
            "What a mallsense box publishes to the mall's MQTT 5 broker and what it listens"
            " to. Generated from the pydantic models by `mallsense contract export`; do not"
            f" edit by hand. Written from mallsense {software}.\n\n"
            "Versioning (docs/records.md): the document's version is the contract's,"
            " MAJOR.MINOR. A minor version only adds (a field, a record kind on its own topic,"
            " a message): readers must ignore fields they do not know, the schemas accept"
            " them, and a field added in a minor version is not required, since older boxes"
            " of the same major do not write it. Removing or renaming a field, or changing"
            " its type or meaning or an enumeration, is a new major version: every `schema`"
            " becomes `<kind>/2` and the topics move to `mallsense/v2/`.\n\n"
            "Records are delivered at least once: de-duplicate on the record's `id`. Each"
            " batch is named by (box, `stream`, `seq`): `stream` is the id of the box's"
            f" database. `seq`: {SEQ_TEXT} Telemetry carries the box's"
            " `last_seq` and `last_acked_seq`, so a missing last batch is seen too. Records"
            " that waited in the box's outbox carry `historical: true`. All times are UTC,"
            " ISO 8601 with milliseconds and a `Z`."
        ),
    }


def _servers() -> dict[str, Any]:
    return {
        "mallBroker": {
            "host": "{host}:{port}",
            "protocol": "mqtts",
            "protocolVersion": "5",
            "description": (
                "The mall's broker; TLS with server verification, optionally client"
                " certificates. Boxes may publish only under their own"
                " `mallsense/v1/{mall}/{box}/` and read only their own `cmd/`."
            ),
            "variables": {
                "host": {"description": "Broker host name (``mqtt.url`` of the box)."},
                "port": {"default": "8883", "description": "8883 for mqtts, 1883 for mqtt."},
            },
        }
    }


def _channel(channel: Channel) -> dict[str, Any]:
    body: dict[str, Any] = {
        "address": channel.address,
        "summary": channel.summary,
        "description": channel.description,
        "messages": {channel.message: {"$ref": f"#/components/messages/{channel.message}"}},
    }
    if channel.parameter_names():
        body["parameters"] = {
            name: {"$ref": f"#/components/parameters/{name}"} for name in channel.parameter_names()
        }
    return body


def _operation(channel: Channel, channels: tuple[Channel, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "action": channel.action,
        "channel": {"$ref": f"#/channels/{channel.key}"},
        "summary": channel.summary,
        "messages": [{"$ref": f"#/channels/{channel.key}/messages/{channel.message}"}],
        "bindings": {
            "mqtt": {
                "qos": channel.qos,
                "retain": channel.retain,
                "bindingVersion": MQTT_BINDING_VERSION,
            }
        },
    }
    reply_key = _REPLIES.get(channel.key)
    if reply_key is not None:
        reply = next(c for c in channels if c.key == reply_key)
        body["reply"] = {
            "channel": {"$ref": f"#/channels/{reply.key}"},
            "messages": [{"$ref": f"#/channels/{reply.key}/messages/{reply.message}"}],
        }
    return body


def _message(channel: Channel, examples: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": channel.message,
        "title": channel.title,
        "summary": channel.summary,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{channel.title}"},
    }
    if examples:
        body["examples"] = [
            {"name": f"{channel.message}{i + 1}", "summary": channel.summary, "payload": payload}
            for i, payload in enumerate(examples)
        ]
    return body


class _Dumper(yaml.SafeDumper):
    """Stable YAML: keys in the order they were built, multi-line text as ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(document: dict[str, Any]) -> str:
    """The document as YAML; the same data always gives the same text (the drift check needs it)."""
    return yaml.dump(
        document,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )


# -- example payloads ---------------------------------------------------------------------------
# Built from the models, so an example can never show a field the contract does not have
# or miss one it requires (the tests validate each against its schema too).

_MALL, _BOX = "demo-mall", "shop-12"
_T0 = 1_773_482_400.0  # 2026-03-14T10:00:00Z
_STREAM = "5f0c8e2a9b1d4c7e8f60a1b2c3d4e5f6"
_DEVICE = "d7c1e59a04b2"


def _at(seconds: float) -> Any:
    return utc(_T0 + seconds)


def _ident(kind: str, key: str, t: float) -> dict[str, Any]:
    return {"id": record_id(_T0 + t, f"{kind}|{key}"), "mall": _MALL, "box": _BOX}


def _example_records() -> dict[str, BaseModel]:
    """One published record of every kind, as a busy shop's box writes it."""
    hour = {"start": _at(0), "end": _at(3600), "partial": False}
    stops = [ZoneStop(zone="entrance", start=_at(0), end=_at(95)),
             ZoneStop(zone="shop", start=_at(120), end=_at(1260))]  # fmt: skip
    return {
        "dwell": ON_WIRE["dwell"](
            **_ident("dwell", "shop", 120), zone="shop", device=_DEVICE, randomized=True,
            source="wifi", start=_at(120), end=_at(1260), duration_s=1140.0, samples=64,
            rssi_max=-48, rssi_mean=-61.5, partial=False, historical=False,
        ),
        "visit": ON_WIRE["visit"](
            **_ident("visit", _DEVICE, 0), device=_DEVICE, randomized=True, source="wifi",
            start=_at(0), end=_at(1260), duration_s=1260.0, path=stops, partial=False,
            historical=False,
        ),
        "presence": ON_WIRE["presence"](
            **_ident("presence", "shop", 0), zone="shop", source="wifi", start=_at(0),
            end=_at(60), devices=23, devices_raw=31, grouping_confidence=0.91, visitors=9,
            passersby=14, randomized_share=0.87, fixed=2, frames=412, partial=False,
            historical=False,
        ),
        "transaction": ON_WIRE["transaction"](
            **_ident("transaction", "shop-12-pos|A1042", 1250), store="shop-12",
            zone="shop", sensor="pos1", start=_at(1250), end=_at(1252), total=59.9,
            currency="EUR", items=2, receipt_no="A1042", printed_at="2026-03-14 11:20:50",
            payment="card", refund=False, raster_only=False, extractor="default",
            confidence=0.95, text_sha256="9f" * 32, historical=False,
        ),
        "footfall": ON_WIRE["footfall"](
            **_ident("footfall", "door|line1", 0), camera="door", line="line1",
            zone="shop", start=_at(0), end=_at(60), in_=4, out=3, partial=False,
            historical=False,
        ),
        "occupancy": ON_WIRE["occupancy"](
            **_ident("occupancy", "door|counter", 0), camera="door", area="counter",
            zone="shop", start=_at(0), end=_at(60), visits=3, occupancy_max=2,
            occupancy_mean=1.4, dwell_s=[41.5, 73.0], partial=False, historical=False,
        ),
        "traffic": ON_WIRE["traffic"](
            **_ident("traffic", "shop|wifi", 0), zone="shop", source="wifi", devices=412,
            devices_raw=530, grouping_confidence=0.9, visitors=131, passersby=281,
            capture_rate=0.318, dwell_sessions=118, dwell_median_s=312.0, dwell_p90_s=1260.0,
            repeat_visits=7, people_counted=104, devices_per_person=1.21,
            ratio_source="zone", people_estimate=108.3, historical=True, **hour,
        ),
        "kpi": ON_WIRE["kpi"](
            **_ident("kpi", "shop-12", 0), store="shop-12", zone="shop", entries=104.0,
            entries_source="camera", transactions=21, refunds=1, sales=1187.4,
            currency="EUR", average_ticket=58.2, items_per_ticket=1.9, conversion=0.202,
            expected_contribution=11.76, unread_receipts=0, historical=True, **hour,
        ),
        "attribution": ON_WIRE["attribution"](
            **_ident("attribution", "A1042", 1252), transaction=record_id(
                _T0 + 1250, "transaction|shop-12-pos|A1042"), store="shop-12",
            zone="shop", start=_at(1252), device=_DEVICE, source="wifi", confidence=0.82,
            candidates=2, historical=False,
        ),
    }  # fmt: skip


def _dump(model: BaseModel, *, exclude_none: bool = False) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)


def _records_only(record: dict[str, Any]) -> dict[str, Any]:
    """A published record as stored (what ``records --json`` prints): without ``historical``."""
    return {k: v for k, v in record.items() if k != "historical"}


def _messages() -> dict[str, list[BaseModel]]:
    """The other messages: status online and offline, telemetry, a command, its reply..."""
    status = {"mall": _MALL, "box": _BOX, "version": "0.9.0", "config_hash": "3b9f0c2d1e4a",
              "started_at": _at(-86400), "stream": _STREAM}  # fmt: skip
    sensor = SensorHealth(sensor="entrance", kind="wifi", state="running", rate_per_s=6.8,
                          last_frame_at=_at(3599.5), restarts=0)  # fmt: skip
    return {
        "status": [
            Status(state="online", reconnects=2, **status),
            Status(state="offline", reconnects=2, reason="connection lost", **status),
        ],
        "telemetry": [
            Telemetry(
                mall=_MALL, box=_BOX, sent_at=_at(3600), outbox_depth=120,
                outbox_oldest_age_s=4.2, records_sent=18423, drops={"budget.presence": 3},
                sensors=[sensor], disk_free_bytes=12_884_901_888, clock_synced=True,
                stream=_STREAM, last_seq=5121, last_acked_seq=5120,
            )
        ],
        "command-request": [
            CommandRequest(id="c-0042", args=dict(ResendArgs(from_seq=5117, to_seq=5118))),
            CommandRequest(id="c-0043"),
        ],
        "command-reply": [
            CommandReply(id="c-0043", command="ping", ok=True, result={"pong": True}),
            CommandReply(id="c-0044", command="resend", ok=False,
                         error="batches 1..9 are outside the window: this box can resend"
                         " batches 5002..5121 (mqtt.resend_window_s and"
                         " mqtt.resend_window_batches)"),
        ],
        "platform-state": [PlatformState(online=True, timestamp=_at(-3600))],
    }  # fmt: skip


def example_payloads() -> dict[str, list[dict[str, Any]]]:
    """Example payloads by schema name (``docs/schemas/<name>.json``), from model instances."""
    examples: dict[str, list[dict[str, Any]]] = {}
    for seq, (kind, record) in enumerate(sorted(_example_records().items()), start=5113):
        body = _dump(record)
        examples[kind] = [_records_only(body), {**body, "seq": seq, "stream": _STREAM}]
        batch = Batch.model_validate({
            "mall": _MALL, "box": _BOX, "kind": kind, "stream": _STREAM, "seq": seq,
            "batch_id": f"0c9d{seq:04d}-5b7e-4f1a-9e3c-2d8b6a4f7e10",
            "sent_at": _dump_time(record, seq), "records": [body],
        })  # fmt: skip
        examples[f"batch-{kind}"] = [_dump(batch)]
    for name, models in _messages().items():
        # The box leaves a null status reason out; other nulls it writes.
        examples[name] = [_dump(m, exclude_none=name == "status") for m in models]
    return examples


def _dump_time(record: BaseModel, seq: int) -> Any:
    """When the example's batch was sent: a few seconds after its record ended."""
    times = record.model_dump(include={"start", "end"})
    return times.get("end", times["start"]) + timedelta(seconds=1 + seq % 7)
