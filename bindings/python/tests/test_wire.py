"""The shared wire fixtures load into the typed objects and back unchanged, and
through Gaia's Rust types unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

import gaia
from conftest import WIRE
from gaia._gaia import wire_round_trip

TYPES: Any = {
    "request": gaia.Request,
    "job": gaia.Job,
    "asset": gaia.Asset,
    "event": gaia.Event,
    "budget.json": gaia.Budget,
    "error.json": gaia.JobError,
    "costs": gaia.CostReport,
}

# error_codes.json lists the codes (test_errors.py); every other fixture is a Rust type.
FIXTURES = sorted(p for p in WIRE.glob("*.json") if p.name != "error_codes.json")

# Fixtures whose whole stem names the Rust type (the others: the stem's first word).
WHOLE_STEMS = {
    "page_jobs",
    "budget",
    "config",
    "error",
    "costs_report",
    "import_request",
    "search_results",
    "usage_summary",
}


def wire_type(path: Any) -> str:
    """The Rust type a fixture's file name names (``wire_round_trip``'s ``type_name``)."""
    stem = str(path.stem)
    return stem if stem in WHOLE_STEMS else stem.split("_")[0]


def through_rust(type_name: str, data: Any) -> Any:
    """``data`` parsed into Gaia's Rust type and written back."""
    return json.loads(wire_round_trip(type_name, json.dumps(data)))


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 25


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trips(path: Any) -> None:
    """Each fixture loads into its Python object (when the package has one) and back
    unchanged, and what Python writes goes through the Rust type unchanged: a field
    that either side drops, renames or adds fails here."""
    original = json.loads(path.read_text())
    cls = TYPES.get(path.name.split("_")[0]) or TYPES.get(path.name)
    written = original
    if path.name == "page_jobs.json":
        page = gaia.Page([gaia.Job.from_dict(item) for item in original["items"]], original["next_cursor"])
        written = page.to_dict()
        assert written == original
    elif cls is not None:
        loaded = cls.from_dict(original)
        written = loaded.to_dict()
        assert written == original
        assert cls.from_json(loaded.to_json()) == loaded
    assert through_rust(wire_type(path), written) == original


@pytest.mark.parametrize("type_name,fixture", [("asset", "asset_image.json"), ("job", "job_succeeded.json")])
def test_the_native_round_trip_sees_a_field_rust_does_not_know(type_name: str, fixture: str) -> None:
    """The round trip is a real check: a field the Rust type lacks does not come back
    (or is refused), and a renamed one neither."""
    data = json.loads((WIRE / fixture).read_text())
    added = dict(data, colour="red")
    renamed = {("created" if k == "created_at" else k): v for k, v in data.items()}
    for changed in (added, renamed):
        try:
            back = through_rust(type_name, changed)
        except gaia.InvalidRequestError:
            continue
        assert back != changed


def test_an_unknown_wire_type_is_invalid() -> None:
    with pytest.raises(gaia.InvalidRequestError) as raised:
        wire_round_trip("nope", "{}")
    assert raised.value.field == "type"


def test_assets_are_typed_by_type() -> None:
    expected = {
        "image": (gaia.ImageAsset, ("width", "height", "format", "tileable")),
        "audio": (gaia.AudioAsset, ("duration_s", "sample_rate", "channels", "format")),
        "video": (gaia.VideoAsset, ("width", "height", "duration_s", "format")),
        "model": (gaia.ModelAsset, ("format", "vertex_count", "triangle_count")),
        "document": (gaia.DocumentAsset, ("format", "page_count")),
    }
    for kind, (cls, fields) in expected.items():
        data = json.loads((WIRE / f"asset_{kind}.json").read_text())
        asset = gaia.Asset.from_dict(data)
        assert type(asset) is cls and asset.type == kind
        for field in fields + ("id", "client_id", "mime", "size_bytes", "sha256", "cost_micros", "created_at"):
            assert getattr(asset, field) == data[field], field
        assert asset.cost_usd == data["cost_micros"] / 1_000_000


def test_job_and_event_fields() -> None:
    job = gaia.Job.from_dict(json.loads((WIRE / "job_failed.json").read_text()))
    assert job.status == "failed" and job.error is not None and job.error.code in gaia.ERRORS
    event = gaia.Event.from_dict(json.loads((WIRE / "event_job_progress.json").read_text()))
    assert event.type == "job_progress" and event.progress == 50 and event["seq"] == event.seq
    failed = gaia.Event.from_dict(json.loads((WIRE / "event_job_failed.json").read_text()))
    assert failed.error is not None and failed.error.code in gaia.ERRORS


def test_request_fixture_submits(engine: gaia.Engine) -> None:
    request = gaia.Request.from_dict(json.loads((WIRE / "request_image.json").read_text()))
    job = engine.submit_request(request)
    assert job.request.to_dict()["spec"] == request.to_dict()["spec"]
    assert engine.wait(job, timeout=60).status == "succeeded"
