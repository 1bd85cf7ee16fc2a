"""The shared wire fixtures load into the typed objects and back unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest

import gaia
from conftest import WIRE

TYPES: Any = {
    "request": gaia.Request,
    "job": gaia.Job,
    "asset": gaia.Asset,
    "event": gaia.Event,
    "budget.json": gaia.Budget,
    "error.json": gaia.JobError,
    "costs": gaia.CostReport,
}

FIXTURES = sorted(WIRE.glob("*.json"))


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 25


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_round_trips(path: Any) -> None:
    original = json.loads(path.read_text())
    prefix = path.name.split("_")[0]
    if path.name == "page_jobs.json":
        page = gaia.Page([gaia.Job.from_dict(item) for item in original["items"]], original["next_cursor"])
        assert page.to_dict() == original
        return
    cls = TYPES.get(prefix) or TYPES.get(path.name)
    if cls is None:
        pytest.skip(f"{path.name}: no typed class in the Python package for this fixture")
    loaded = cls.from_dict(original)
    assert loaded.to_dict() == original
    assert cls.from_json(loaded.to_json()) == loaded


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
