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
from typing import Any, Literal

import yaml

from edge.messages import COMMANDS

__all__ = ["ASYNCAPI_VERSION", "MQTT_BINDING_VERSION", "Channel", "build_document", "dump_yaml"]

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
    version: str, channels: tuple[Channel, ...], schemas: dict[str, Any]
) -> dict[str, Any]:
    """The whole document as plain data, in a fixed order (``dump_yaml`` keeps it).

    ``schemas`` are the components: every payload schema by model name, with
    references of the form ``#/components/schemas/Name``.
    """
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": _info(version),
        "defaultContentType": "application/json",
        "servers": _servers(),
        "channels": {c.key: _channel(c) for c in channels},
        "operations": {c.operation: _operation(c, channels) for c in channels},
        "components": {
            "schemas": schemas,
            "messages": {c.message: _message(c) for c in channels},
            "parameters": _PARAMETERS,
        },
    }


def _info(version: str) -> dict[str, Any]:
    return {
        "title": "mallsense box uplink",
        "version": version,
        "description": (
            "What a mallsense box publishes to the mall's MQTT 5 broker and what it listens"
            " to. Generated from the pydantic models by `mallsense contract export`; do not"
            " edit by hand.\n\n"
            "Records are delivered at least once: de-duplicate on the record's `id`. Each box"
            " numbers its batches with `seq`, one more per batch across restarts, so a jump is"
            " a batch that never arrived (ask for it with the `resend` command) and a smaller"
            " number is a batch sent again. Records that waited in the box's outbox carry"
            " `historical: true`. All times are UTC, ISO 8601 with milliseconds and a `Z`."
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


def _message(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.message,
        "title": channel.title,
        "summary": channel.summary,
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{channel.title}"},
    }


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
