"""The MQTT contract as documents: JSON Schemas and AsyncAPI, generated from the models.

``edge.records`` and ``edge.messages`` are the single source of the contract.
This module turns them into what the platform's engineers read and validate
against: one JSON Schema (Draft 2020-12) per record kind and per message in
``docs/schemas/``, and ``docs/asyncapi.yaml`` (AsyncAPI 3.0). ``mallsense
contract export`` writes them; ``mallsense contract check`` and the test suite
fail when the committed files differ from what the models generate, so a model
change cannot reach the platform undocumented.

The schemas are pydantic's validation schemas, tightened for what the box
*writes* (records, batches, status, telemetry, replies): a field the box always
writes is required even where the model has a default (``kind``, ``schema``,
``partial``: a reader may rely on them), only a field whose default is null may
be left out (status ``reason``), and times must be the box's format (UTC, three
decimals, ``Z``). What the box *reads* (commands, platform state) keeps the
model's leniency.

They are also *open*, as the versioning rule in docs/records.md says: a reader
must accept a field it does not know (a later minor version added it), so no
schema of what the box writes has ``additionalProperties: false``, and a field a
minor version added (``added_in`` of its model) is not required, since boxes of
the earlier minor version do not write it. The models themselves keep
``extra="forbid"``: what this box writes is checked exactly by its own tests.
A record kind's schema also names what travels with a record but is not stored
with it: ``historical`` (added when it is published) and ``seq`` and ``stream``
(its envelope's, which ``mallsense subscribe --json`` copies onto each record).

``check_message`` validates one MQTT message (topic and payload) against the
same in-memory schemas; ``mallsense subscribe --validate`` uses it.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, relevance
from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

import edge
from edge.asyncapi import Channel, build_document, dump_yaml, example_payloads
from edge.messages import (
    ON_WIRE,
    STREAM_PATTERN,
    TOPIC_ROOT,
    Batch,
    CommandReply,
    CommandRequest,
    PlatformState,
    ResendArgs,
    Status,
    Telemetry,
)
from edge.records import RECORD_MODELS

__all__ = [
    "ASYNCAPI_FILE",
    "CHANNELS",
    "SCHEMAS",
    "SCHEMA_DIALECT",
    "SCHEMA_DIR",
    "UTC_TIME_PATTERN",
    "Drift",
    "SchemaSpec",
    "asyncapi_document",
    "check_message",
    "component_schemas",
    "drift",
    "export",
    "json_schema",
    "match_topic",
    "render",
    "schema_errors",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_DIR = "schemas"
ASYNCAPI_FILE = "asyncapi.yaml"
UTC_TIME_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
_GENERATED = "Generated from the pydantic models by `mallsense contract export`; do not edit."
_MAX_ERRORS = 3
_MAX_ERROR_CHARS = 240


# -- the schemas ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SchemaSpec:
    """One schema document: its file stem, its model, and which way it travels."""

    name: str
    model: type[BaseModel]
    emitted: bool
    """The box writes it (True: strict, see the module's docstring) or reads it (False)."""


def _batch_model(kind: str, record: type[BaseModel]) -> type[BaseModel]:
    """``Batch`` narrowed to one kind: the payload of ``data/<kind>``.

    ``Batch`` itself allows any kind's records; a per-kind schema tells the
    platform exactly what a topic carries and rejects a record on the wrong topic.
    """
    return create_model(
        f"Batch{kind.capitalize()}",
        __base__=Batch,
        __doc__=f"One publish on ``data/{kind}``: {kind} records, in outbox order.",
        kind=(Literal[kind], Field(description="The kind of every record in the batch.")),  # type: ignore[arg-type]
        records=(list[record], Field(description=f"{kind} records as published.")),  # type: ignore[valid-type]
    )


class _FromEnvelope(BaseModel):
    """What a record carries on its way that is not stored with it (never required)."""

    optional_fields: ClassVar[frozenset[str]] = frozenset({"historical", "seq", "stream"})

    historical: bool = Field(
        description="Added when the record is published: it waited in the outbox longer than"
        " mqtt.historical_after_s, or was sent again on request. Not in stored records."
    )
    seq: int = Field(
        ge=1,
        description="Its envelope's seq, copied onto the record by a consumer that flattens"
        " batches (`mallsense subscribe --json`). Not on the wire inside records.",
    )
    stream: str = Field(
        pattern=STREAM_PATTERN,
        description="Its envelope's stream, copied like seq (absent from boxes before"
        " contract 1.1).",
    )


def _record_model(record: type[BaseModel]) -> type[BaseModel]:
    """A record kind as a reader meets it: the stored record, plus ``_FromEnvelope``.

    It keeps the record model's name, so the schema's title and component are the kind's.
    """
    return create_model(record.__name__, __base__=(_FromEnvelope, record), __doc__=record.__doc__)


def _schema_specs() -> tuple[SchemaSpec, ...]:
    kinds = sorted(RECORD_MODELS)
    specs = [SchemaSpec(kind, _record_model(RECORD_MODELS[kind]), True) for kind in kinds]
    specs += [SchemaSpec(f"batch-{k}", _batch_model(k, ON_WIRE[k]), True) for k in kinds]
    specs += [
        SchemaSpec("status", Status, True),
        SchemaSpec("telemetry", Telemetry, True),
        SchemaSpec("command-request", CommandRequest, False),
        SchemaSpec("resend-args", ResendArgs, False),
        SchemaSpec("command-reply", CommandReply, True),
        SchemaSpec("platform-state", PlatformState, False),
    ]
    return tuple(specs)


SCHEMAS: dict[str, SchemaSpec] = {spec.name: spec for spec in _schema_specs()}
"""Schema name (the file ``docs/schemas/<name>.json``) -> its spec."""


class _ReadJsonSchema(GenerateJsonSchema):
    """What the box reads: pydantic's validation schema as it is."""


class _WrittenJsonSchema(GenerateJsonSchema):
    """What the box writes: fields it always writes are required; times in its format."""

    def field_is_required(
        self,
        field: core_schema.ModelField | core_schema.DataclassField | core_schema.TypedDictField,
        total: bool,
    ) -> bool:
        inner: Mapping[str, Any] = field["schema"]
        if inner["type"] == "default":
            # A null default is the only one the box may leave out (it omits nulls there).
            return "default" not in inner or inner["default"] is not None
        return super().field_is_required(field, total)

    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        return {**super().datetime_schema(schema), "pattern": UTC_TIME_PATTERN}

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        """Open to added fields; a field a minor version added is not required."""
        body = super().model_schema(schema)
        if body.get("additionalProperties") is False:
            del body["additionalProperties"]
        cls = schema["cls"]
        optional = set(getattr(cls, "added_in", {})) | set(getattr(cls, "optional_fields", ()))
        if optional and "required" in body:
            body["required"] = [name for name in body["required"] if name not in optional]
        return body


def _generator(spec: SchemaSpec) -> type[GenerateJsonSchema]:
    return _WrittenJsonSchema if spec.emitted else _ReadJsonSchema


def json_schema(name: str) -> dict[str, Any]:
    """The standalone JSON Schema (Draft 2020-12) named ``name`` (a key of ``SCHEMAS``)."""
    spec = SCHEMAS[name]
    body = spec.model.model_json_schema(by_alias=True, schema_generator=_generator(spec))
    return {"$schema": SCHEMA_DIALECT, "$comment": _GENERATED, **body}


def component_schemas() -> dict[str, Any]:
    """Every schema and its sub-schemas by model name, referencing ``#/components/schemas``."""
    merged: dict[str, Any] = {}
    for emitted in (True, False):
        specs = [s for s in SCHEMAS.values() if s.emitted is emitted]
        _, defs = models_json_schema(
            [(s.model, "validation") for s in specs],
            by_alias=True,
            ref_template="#/components/schemas/{model}",
            schema_generator=_WrittenJsonSchema if emitted else _ReadJsonSchema,
        )
        for key, value in defs.get("$defs", {}).items():
            if merged.setdefault(key, value) != value:
                raise RuntimeError(f"two different schemas are both named {key!r}")
    return dict(sorted(merged.items()))


# -- the channels -----------------------------------------------------------------------------


def _channel(**fields: Any) -> Channel:
    """A channel whose payload's title is its schema's model name."""
    return Channel(title=SCHEMAS[fields["schema"]].model.__name__, **fields)


def _data_channel(kind: str) -> Channel:
    return _channel(
        key=f"data{kind.capitalize()}",
        address=f"{TOPIC_ROOT}/{{mall}}/{{box}}/data/{kind}",
        message=f"{kind}Batch",
        schema=f"batch-{kind}",
        action="send",
        operation=f"send{kind.capitalize()}Batch",
        qos=1,
        retain=False,
        summary=f"A batch of {kind} records.",
        description=(
            "Envelope `{schema, mall, box, kind, stream, seq, batch_id, sent_at, records[]}`"
            f" of {kind} records; each record has `historical` appended. QoS 1, not"
            " retained; a batch may arrive twice: (box, stream, seq) names it, and records"
            " are de-duplicated on `id`."
        ),
    )


def _channels() -> tuple[Channel, ...]:
    box = f"{TOPIC_ROOT}/{{mall}}/{{box}}"
    data = [_data_channel(kind) for kind in sorted(RECORD_MODELS)]
    return (
        *data,
        _channel(
            key="status", address=f"{box}/status", message="status", schema="status",
            action="send", operation="sendStatus", qos=1, retain=True,
            summary="The box's uplink availability (retained).",
            description=(
                "`online` with version, config hash, reconnect counter, start time and stream"
                " at every connect; `offline` at a clean stop, and as the MQTT 5 Last Will"
                " with a will delay, so a short network drop does not flap."
            ),
        ),
        _channel(
            key="telemetry", address=f"{box}/telemetry", message="telemetry",
            schema="telemetry", action="send", operation="sendTelemetry",
            qos=1, retain=False, summary="Box health, every minute.",
            description="Outbox depth and oldest age, records sent, drops by reason,"
            " per-sensor rates and last-seen, disk free, clock sync state; the stream and"
            " its last seq given and acknowledged, so a missing last batch is seen.",
        ),
        _channel(
            key="command", address=f"{box}/cmd/{{name}}", message="commandRequest",
            schema="command-request", action="receive",
            operation="receiveCommand", qos=1, retain=False,
            summary="A command for one box.",
            description="Accepted only on the box's own topic, parsed strictly and"
            " rate-limited; the answer goes to `cmd/{name}/reply` with the same `id`."
            " `resend` takes `ResendArgs` as `args`.",
        ),
        _channel(
            key="commandReply", address=f"{box}/cmd/{{name}}/reply", message="commandReply",
            schema="command-reply", action="send",
            operation="sendCommandReply", qos=1, retain=False,
            summary="The box's answer to a command.",
            description="`ok: false` with `error` in words for unknown, malformed or"
            " rate-limited commands.",
        ),
        _channel(
            key="platformState", address=f"{TOPIC_ROOT}/STATE/{{platform}}",
            message="platformState", schema="platform-state", action="receive",
            operation="receivePlatformState", qos=1, retain=True,
            summary="The platform's own availability (retained, Sparkplug primary host).",
            description="When the box is configured to require it, data is held in the"
            " outbox until the platform says it is online.",
        ),
    )  # fmt: skip


CHANNELS: tuple[Channel, ...] = _channels()


def _address_pattern(address: str) -> re.Pattern[str]:
    parts = []
    for part in address.split("/"):
        if part.startswith("{") and part.endswith("}"):
            parts.append(f"(?P<{part[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(part))
    return re.compile("/".join(parts))


_PATTERNS = [(channel, _address_pattern(channel.address)) for channel in CHANNELS]


def match_topic(topic: str) -> tuple[Channel, dict[str, str]] | None:
    """The channel a topic belongs to and its parameters, or None if it is not in the contract."""
    for channel, pattern in _PATTERNS:
        found = pattern.fullmatch(topic)
        if found is not None:
            return channel, found.groupdict()
    return None


# -- checking payloads -------------------------------------------------------------------------


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(json_schema(name))


def _where(error: ValidationError) -> str:
    where = ""
    for step in error.absolute_path:
        where += f"[{step}]" if isinstance(step, int) else f".{step}"
    return where.lstrip(".") or "payload"


def schema_errors(name: str, payload: Any) -> list[str]:
    """Why ``payload`` does not match schema ``name``, most relevant first (empty: it does)."""
    errors = sorted(_validator(name).iter_errors(payload), key=relevance)
    reasons = []
    for error in errors[:_MAX_ERRORS]:
        text = f"{_where(error)}: {error.message}"
        reasons.append(text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + "…")
    if len(errors) > _MAX_ERRORS:
        reasons.append(f"and {len(errors) - _MAX_ERRORS} more")
    return reasons


def _identity_errors(params: dict[str, str], payload: Any) -> list[str]:
    """The mall and box in a payload (and its records) must be the topic's."""
    if not isinstance(payload, dict):
        return []
    objects: list[tuple[str, Any]] = [("payload", payload)]
    records = payload.get("records")
    if isinstance(records, list):
        objects += [(f"records[{i}]", r) for i, r in enumerate(records)]
    for where, obj in objects:
        for key in ("mall", "box"):
            if isinstance(obj, dict) and key in params and key in obj and obj[key] != params[key]:
                return [f"{where}.{key} is {obj[key]!r} but the topic is for {key} {params[key]!r}"]
    return []


def check_message(topic: str, payload: Any) -> list[str]:
    """Why a message (topic, parsed JSON payload) breaks the contract; empty if it does not."""
    found = match_topic(topic)
    if found is None:
        return [f"topic {topic} is not part of the mallsense contract (see docs/asyncapi.yaml)"]
    channel, params = found
    return schema_errors(channel.schema, payload) or _identity_errors(params, payload)


# -- the documents -----------------------------------------------------------------------------


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as plain data."""
    return build_document(edge.__version__, CHANNELS, component_schemas(), example_payloads())


def render() -> dict[str, str]:
    """Every generated file, by path relative to the docs directory, and its text."""
    files = {
        f"{SCHEMA_DIR}/{name}.json": json.dumps(json_schema(name), indent=2, ensure_ascii=False)
        + "\n"
        for name in SCHEMAS
    }
    files[ASYNCAPI_FILE] = f"# {_GENERATED}\n{dump_yaml(asyncapi_document())}"
    return files


def export(out: Path) -> list[Path]:
    """Write the documents under ``out``; remove schema files no model produces any more."""
    files = render()
    (out / SCHEMA_DIR).mkdir(parents=True, exist_ok=True)
    written = []
    for relative, text in files.items():
        path = out / relative
        path.write_text(text, encoding="utf-8")
        written.append(path)
    for stale in _stale(out, files):
        stale.unlink()
    return written


def _stale(out: Path, files: dict[str, str]) -> list[Path]:
    folder = out / SCHEMA_DIR
    present = sorted(folder.glob("*.json")) if folder.is_dir() else []
    return [p for p in present if f"{SCHEMA_DIR}/{p.name}" not in files]


@dataclass(frozen=True, slots=True)
class Drift:
    """One committed document that is not what the models generate."""

    path: str
    problem: Literal["missing", "changed", "unexpected"]
    diff: tuple[str, ...] = ()
    """Unified diff, committed -> generated (for ``changed``)."""

    def summary(self) -> str:
        if self.problem != "changed":
            return f"{self.path}: {self.problem}"
        added = sum(1 for d in self.diff if d.startswith("+") and not d.startswith("+++"))
        removed = sum(1 for d in self.diff if d.startswith("-") and not d.startswith("---"))
        return f"{self.path}: changed (+{added} -{removed} lines)"


def drift(out: Path) -> list[Drift]:
    """How the documents under ``out`` differ from what the models generate (empty: not at all)."""
    found = []
    files = render()
    for relative, text in files.items():
        path = out / relative
        if not path.is_file():
            found.append(Drift(str(path), "missing"))
            continue
        committed = path.read_text(encoding="utf-8")
        if committed != text:
            diff = difflib.unified_diff(
                committed.splitlines(), text.splitlines(), "committed", "generated", lineterm=""
            )
            found.append(Drift(str(path), "changed", tuple(diff)))
    found += [Drift(str(p), "unexpected") for p in _stale(out, files)]
    return found
