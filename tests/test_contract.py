"""The contract documents: generated from the models, committed, valid, and true of real output.

The committed ``docs/asyncapi.yaml`` and ``docs/schemas/*.json`` are what the
platform's engineers read; these tests fail when they drift from the models
(run ``mallsense contract export``), when the AsyncAPI document is malformed,
and when what the pipeline really writes does not match the schemas.
"""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml
from cli_helpers import DEMO_CONFIG, ENTRANCE, ROOT, SHOP, invoke
from jsonschema import Draft202012Validator

from edge.config import load_config
from edge.contract import (
    CHANNELS,
    SCHEMAS,
    asyncapi_document,
    check_message,
    drift,
    match_topic,
    render,
    schema_errors,
)
from edge.messages import CommandReply, PlatformState, SensorHealth, Telemetry
from edge.runtime.replay import replay
from edge.store import Store
from sync.envelope import build_envelope, data_topic, plan_batches, status_payload, status_topic

DOCS = ROOT / "docs"
MALL, BOX = "demo-mall", "shop-12"
EXPECTED_ADDRESSES = {
    "mallsense/v1/{mall}/{box}/data/dwell",
    "mallsense/v1/{mall}/{box}/data/visit",
    "mallsense/v1/{mall}/{box}/data/presence",
    "mallsense/v1/{mall}/{box}/data/transaction",
    "mallsense/v1/{mall}/{box}/data/footfall",
    "mallsense/v1/{mall}/{box}/data/occupancy",
    "mallsense/v1/{mall}/{box}/data/traffic",
    "mallsense/v1/{mall}/{box}/data/kpi",
    "mallsense/v1/{mall}/{box}/data/attribution",
    "mallsense/v1/{mall}/{box}/status",
    "mallsense/v1/{mall}/{box}/telemetry",
    "mallsense/v1/{mall}/{box}/cmd/{name}",
    "mallsense/v1/{mall}/{box}/cmd/{name}/reply",
    "mallsense/v1/STATE/{platform}",
}
# The keywords of AsyncAPI 3.0's Schema Object (JSON Schema draft-07 plus its own):
# a payload schema using anything else would be read differently by AsyncAPI tools.
ASYNCAPI_SCHEMA_KEYWORDS = {
    "$ref", "title", "type", "required", "multipleOf", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
    "minItems", "uniqueItems", "maxProperties", "minProperties", "enum", "const",
    "examples", "if", "then", "else", "readOnly", "writeOnly", "properties",
    "patternProperties", "additionalProperties", "additionalItems", "items",
    "propertyNames", "contains", "allOf", "oneOf", "anyOf", "not", "description",
    "format", "default", "discriminator", "externalDocs", "deprecated",
}  # fmt: skip


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database filled by replaying the demo recordings through the real pipeline."""
    db = tmp_path_factory.mktemp("replayed") / "box.db"
    config = load_config(DEMO_CONFIG)
    with Store(db) as store:
        replay(config, {"entrance": ENTRANCE, "shop": SHOP}, b"k" * 32, store)
    return db


def asyncapi() -> dict[str, Any]:
    loaded = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def resolve(document: dict[str, Any], ref: str) -> Any:
    """A local JSON Pointer reference (``#/a/b``) inside ``document``."""
    assert ref.startswith("#/"), f"{ref} is not a local reference"
    node: Any = document
    for token in ref[2:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and key in node, f"{ref} does not resolve (at {key!r})"
        node = node[key]
    return node


def refs_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in refs_in(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs_in(value)]
    return []


def schema_keywords(schema: Any) -> set[str]:
    """Keywords used anywhere in a schema (property names are not keywords)."""
    if isinstance(schema, list):
        return {k for item in schema for k in schema_keywords(item)}
    if not isinstance(schema, dict):
        return set()
    found = set(schema)
    for key, value in schema.items():
        if key in {"properties", "patternProperties"}:
            found |= {k for sub in value.values() for k in schema_keywords(sub)}
        elif key not in {"enum", "const", "default", "examples", "required"}:
            found |= schema_keywords(value)
    return found


# -- drift ------------------------------------------------------------------------------------


def test_committed_documents_match_the_models() -> None:
    found = drift(DOCS)
    assert not found, (
        "docs/ differs from the models; run `mallsense contract export` and commit:\n"
        + "\n".join(item.summary() for item in found)
    )


def test_rendering_is_deterministic_and_yaml_round_trips() -> None:
    first, second = render(), render()
    assert first == second
    assert yaml.safe_load(first["asyncapi.yaml"]) == json.loads(json.dumps(asyncapi_document()))
    assert set(first) == {f"schemas/{name}.json" for name in SCHEMAS} | {"asyncapi.yaml"}


def test_contract_check_names_what_drifted(tmp_path: Path) -> None:
    assert invoke("contract", "export", "--out", tmp_path).exit_code == 0
    clean = invoke("contract", "check", "--dir", tmp_path)
    assert clean.exit_code == 0, clean.output

    (tmp_path / "schemas" / "status.json").write_text("{}\n")
    (tmp_path / "schemas" / "visit.json").unlink()
    (tmp_path / "schemas" / "old-kind.json").write_text("{}\n")
    result = invoke("contract", "check", "--dir", tmp_path)
    assert result.exit_code == 1
    assert "status.json: changed" in result.stderr
    assert "visit.json: missing" in result.stderr
    assert "old-kind.json: unexpected" in result.stderr
    assert "mallsense contract export" in result.stderr

    assert invoke("contract", "export", "--out", tmp_path).exit_code == 0
    assert not (tmp_path / "schemas" / "old-kind.json").exists()
    assert drift(tmp_path) == []


# -- the documents are well-formed ----------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((DOCS / "schemas").glob("*.json")), ids=lambda p: p.name)
def test_every_schema_file_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    for ref in refs_in(schema):
        resolve(schema, ref)


def test_asyncapi_document_structure() -> None:
    doc = asyncapi()
    assert doc["asyncapi"] == "3.0.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert {c["address"] for c in doc["channels"].values()} == EXPECTED_ADDRESSES
    for ref in refs_in(doc):
        resolve(doc, ref)
    for key, channel in doc["channels"].items():
        names = set(re.findall(r"\{(\w+)\}", channel["address"]))
        assert set(channel.get("parameters", {})) == names, key
        assert channel["messages"], key
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        unknown = schema_keywords(schema) - ASYNCAPI_SCHEMA_KEYWORDS
        assert not unknown, f"components/schemas/{name} uses {unknown}"
    for message in doc["components"]["messages"].values():
        assert message["payload"]["$ref"].startswith("#/components/schemas/")


def test_asyncapi_operations_are_the_boxes_side_with_mqtt_bindings() -> None:
    doc = asyncapi()
    expected = {  # address suffix -> (action, qos, retain)
        "data/dwell": ("send", 1, False),
        "data/visit": ("send", 1, False),
        "data/presence": ("send", 1, False),
        "data/transaction": ("send", 1, False),
        "data/footfall": ("send", 1, False),
        "data/occupancy": ("send", 1, False),
        "data/traffic": ("send", 1, False),
        "data/kpi": ("send", 1, False),
        "data/attribution": ("send", 1, False),
        "status": ("send", 1, True),
        "telemetry": ("send", 1, False),
        "cmd/{name}": ("receive", 1, False),
        "cmd/{name}/reply": ("send", 1, False),
        "STATE/{platform}": ("receive", 1, True),
    }
    seen = set()
    for op_id, op in doc["operations"].items():
        channel_ref = op["channel"]["$ref"]
        address = resolve(doc, channel_ref)["address"]
        suffix = next(s for s in expected if address.endswith("/" + s))
        seen.add(suffix)
        action, qos, retain = expected[suffix]
        binding = op["bindings"]["mqtt"]
        assert (op["action"], binding["qos"], binding["retain"]) == (action, qos, retain), op_id
        assert binding["bindingVersion"] == "0.2.0"
        for message in op["messages"]:  # AsyncAPI 3: an operation's messages are its channel's
            assert message["$ref"].startswith(channel_ref + "/messages/"), op_id
    assert seen == set(expected)
    reply = doc["operations"]["receiveCommand"]["reply"]
    assert resolve(doc, reply["channel"]["$ref"])["address"].endswith("/cmd/{name}/reply")


def test_topics_map_to_their_channels() -> None:
    assert {c.address for c in CHANNELS} == EXPECTED_ADDRESSES
    channel, params = match_topic("mallsense/v1/m1/b7/cmd/resend/reply") or (None, {})
    assert channel is not None and channel.schema == "command-reply"
    assert params == {"mall": "m1", "box": "b7", "name": "resend"}
    assert match_topic("mallsense/v1/m1/b7/data/dwell/extra") is None
    assert match_topic("mallsense/v1/STATE/central") is not None
    assert "not part of the mallsense contract" in check_message("mallsense/v1/m/b/junk", {})[0]


# -- what the box really writes matches ---------------------------------------------------------


def test_replayed_records_match_their_kind_schemas(replayed: Path) -> None:
    with Store(replayed, create=False) as store:
        records = list(store.records())
    assert {r["kind"] for r in records} == {"dwell", "visit", "presence", "traffic"}
    for record in records:
        assert schema_errors(record["kind"], record) == [], record


def test_envelopes_of_the_replayed_outbox_match_the_batch_schemas(
    replayed: Path, tmp_path: Path
) -> None:
    db = tmp_path / "box.db"
    shutil.copy(replayed, db)
    with Store(db) as store:
        rows = store.outbox_after(0, 100_000)
    batches, rejected = plan_batches(rows, 100, 64_000, lambda kind: 400)
    assert rejected == [] and len(batches) > 3
    now = time.time()
    for seq, batch in enumerate(batches, start=1):
        envelope = build_envelope(
            MALL, BOX, batch, seq=seq, batch_id=str(uuid.uuid4()), now=now,
            historical_after_s=60 if seq % 2 else 10**9, stream=uuid.uuid4().hex,
        )  # fmt: skip
        topic = data_topic(MALL, BOX, envelope.kind)
        assert check_message(topic, json.loads(envelope.payload)) == []
        # The same batch on another kind's topic, or another box's, is refused.
        other = "visit" if envelope.kind != "visit" else "dwell"
        assert check_message(data_topic(MALL, BOX, other), json.loads(envelope.payload))
        elsewhere = check_message(
            data_topic(MALL, "x", envelope.kind), json.loads(envelope.payload)
        )
        assert "topic is for box 'x'" in elsewhere[0]


def test_status_and_messages_from_the_models_match() -> None:
    states: list[tuple[Literal["online", "offline"], str | None]] = [
        ("online", None),
        ("offline", "connection lost"),
    ]
    for state, reason in states:
        payload = status_payload(
            state, mall=MALL, box=BOX, version="0.1.0", config_hash="cafe", reconnects=2,
            started_at=1_780_000_000.5, reason=reason,
        )  # fmt: skip
        assert check_message(status_topic(MALL, BOX), json.loads(payload)) == []
    telemetry = Telemetry(
        mall=MALL, box=BOX, sent_at="2026-03-14T10:00:00.123Z", outbox_depth=3,
        outbox_oldest_age_s=1.5, records_sent=10, drops={"budget": 1}, disk_free_bytes=10**9,
        clock_synced=True, stream="5f" * 16, last_seq=12, last_acked_seq=11,
        sensors=[SensorHealth(
            sensor="entrance", kind="wifi", state="running", rate_per_s=3.0,
            last_frame_at="2026-03-14T10:00:00.000Z", restarts=0,
        )],
    )  # fmt: skip
    topic = f"mallsense/v1/{MALL}/{BOX}"
    assert check_message(f"{topic}/telemetry", dump(telemetry)) == []
    reply = CommandReply(id="r1", command="ping", ok=True, result={"pong": True})
    assert check_message(f"{topic}/cmd/ping/reply", dump(reply)) == []
    assert check_message(f"{topic}/cmd/resend", {"id": "r2", "args": {"from_seq": 1}}) == []
    assert check_message("mallsense/v1/STATE/central", dump(PlatformState(online=True))) == []


def dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def test_schemas_refuse_what_the_box_never_writes(replayed: Path) -> None:
    with Store(replayed, create=False) as store:
        dwell = next(iter(store.records("dwell")))
    without_kind = {k: v for k, v in dwell.items() if k != "kind"}
    assert "'kind' is a required property" in schema_errors("dwell", without_kind)[0]
    local_time = {**dwell, "start": "2026-03-14T11:00:00+01:00"}
    assert schema_errors("dwell", local_time)[0].startswith("start:")
    # An added field is accepted (docs/records.md, "Versioning"); a known one must be right.
    assert schema_errors("dwell", {**dwell, "floor": 2}) == []
    assert schema_errors("dwell", {**dwell, "samples": "many"})[0].startswith("samples:")
    negative = {**dwell, "duration_s": -1}
    assert schema_errors("dwell", negative)[0].startswith("duration_s:")
    # What the box reads stays lenient: a command without args is fine.
    assert schema_errors("command-request", {"id": "x"}) == []
