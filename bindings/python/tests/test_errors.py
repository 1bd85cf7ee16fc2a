"""Error mapping: every stable code has its exception class under GaiaError,
and the engine's errors arrive as those classes with `.code`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Type

import pytest

import gaia
from conftest import WIRE, png

CLASSES = {
    "invalid_request": gaia.InvalidRequestError,
    "not_found": gaia.NotFoundError,
    "conflict": gaia.ConflictError,
    "budget_exceeded": gaia.BudgetExceededError,
    "no_provider": gaia.NoProviderError,
    "provider_error": gaia.ProviderError,
    "provider_rate_limited": gaia.ProviderRateLimitedError,
    "provider_timeout": gaia.ProviderTimeoutError,
    "provider_rejected": gaia.ProviderRejectedError,
    "invalid_output": gaia.InvalidOutputError,
    "canceled": gaia.CanceledError,
    "storage_error": gaia.StorageError,
    "internal": gaia.InternalError,
}


def test_every_wire_code_has_its_class() -> None:
    codes = [entry["code"] for entry in json.loads((WIRE / "error_codes.json").read_text())]
    assert codes == list(CLASSES)
    for code in codes:
        cls = CLASSES[code]
        assert issubclass(cls, gaia.GaiaError) and cls.code == code and gaia.ERRORS[code] is cls
        assert cls.__module__ == "gaia"


def test_invalid_request_names_the_field(engine: gaia.Engine) -> None:
    with pytest.raises(gaia.InvalidRequestError) as raised:
        engine.submit("image", "x", client_id="demo", width=0)
    assert raised.value.code == "invalid_request" and raised.value.field == "spec.width"
    assert raised.value.retryable is False
    with pytest.raises(gaia.InvalidRequestError) as unknown:
        engine.submit("image", "x", client_id="demo", colour="red")
    assert "colour" in str(unknown.value)
    with pytest.raises(gaia.InvalidRequestError) as route:
        engine.submit("image", "x", client_id="demo", provider="nobody")
    assert route.value.field == "route"


def test_not_found_conflict_no_provider(engine: gaia.Engine) -> None:
    with pytest.raises(gaia.NotFoundError):
        engine.job("019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20")
    with pytest.raises(gaia.NotFoundError):
        engine.asset("not-a-uuid")
    engine.submit("image", "a", client_id="demo", idempotency_key="k1", size=(16, 16))
    with pytest.raises(gaia.ConflictError):
        engine.submit("image", "b", client_id="demo", idempotency_key="k1", size=(16, 16))
    with pytest.raises(gaia.NoProviderError):
        engine.submit("video", "a cutscene", client_id="demo")


def test_remote_derive_operations_pass_through_to_the_router(engine: gaia.Engine) -> None:
    parent = engine.generate("image", "wall", size=(16, 16), client_id="demo")
    edit = {"op": "edit", "prompt": "add moss", "mask_id": None}
    with pytest.raises(gaia.NoProviderError):
        engine.submit_request({"client_id": "demo", "spec": {"kind": "derive", "parent_id": parent.id, "operation": edit}})
    with pytest.raises(gaia.InvalidRequestError) as unknown:
        bad = {"op": "edit", "prompt": "x", "maks_id": None}
        engine.submit_request({"client_id": "demo", "spec": {"kind": "derive", "parent_id": parent.id, "operation": bad}})
    assert "maks_id" in str(unknown.value)


def test_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(gaia.StorageError) as raised:
        gaia.Engine(path=blocker / "inside")
    assert raised.value.code == "storage_error"


class Failing:
    """A provider that raises the exception it is given."""

    name = "failing"
    models = [gaia.Model("m", "image")]

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def generate(self, call: gaia.Call, cx: Any) -> bytes:
        raise self.error


@pytest.mark.parametrize(
    "raised, expected",
    [
        (gaia.ProviderError("boom"), gaia.ProviderError),
        (ValueError("plain python"), gaia.ProviderError),
        (gaia.ProviderRateLimitedError("slow down"), gaia.ProviderRateLimitedError),
        (gaia.ProviderTimeoutError("too slow"), gaia.ProviderTimeoutError),
        (gaia.ProviderRejectedError("policy"), gaia.ProviderRejectedError),
        (gaia.InvalidOutputError("garbage"), gaia.InvalidOutputError),
    ],
)
def test_provider_errors_keep_their_code(
    tmp_path: Path, raised: BaseException, expected: Type[gaia.GaiaError]
) -> None:
    from conftest import open_engine

    retry = {"base_delay_ms": 1, "max_delay_ms": 2, "attempts_per_provider": 1}
    with open_engine(tmp_path, max_attempts=2, retry=retry) as engine:
        engine.register_provider(Failing(raised))
        with pytest.raises(expected) as caught:
            engine.generate("image", "x", client_id="demo", provider="failing", model="m")
        assert caught.value.code == expected.code  # type: ignore[attr-defined]
        job = engine.jobs(client_id="demo").items[0]
        assert job.status == "failed" and job.error is not None and job.error.code == expected.code  # type: ignore[attr-defined]


def test_bytes_that_are_not_an_image_are_invalid_output(engine: gaia.Engine) -> None:
    class Garbage:
        name = "garbage"
        models = [gaia.Model("m", "image")]

        def generate(self, call: gaia.Call, cx: Any) -> List[bytes]:
            return [b"definitely not a png"]

    engine.register_provider(Garbage())
    with pytest.raises(gaia.InvalidOutputError):
        engine.generate("image", "x", client_id="demo", provider="garbage", model="m")


def test_canceled_job_raises_canceled(engine: gaia.Engine) -> None:
    from conftest import ImageProvider

    engine.register_provider(ImageProvider(delay_s=30))
    job = engine.submit("image", "never", client_id="demo", provider="pyimage", model="tile")
    engine.cancel(job)
    with pytest.raises(gaia.CanceledError):
        engine._asset(engine._native.first_asset(engine.wait(job).to_json()))
    assert png()
