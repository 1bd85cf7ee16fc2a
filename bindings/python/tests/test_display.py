"""Notebook display: inline PNGs, audio players, grids, saving, Pillow, progress."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import gaia
from conftest import WIRE


def test_image_reprs(engine: gaia.Engine, tmp_path: Path) -> None:
    asset = engine.generate("image", "shown", size=(32, 32), client_id="demo")
    assert isinstance(asset, gaia.ImageAsset)
    png = asset._repr_png_()
    assert png is not None and png.startswith(b"\x89PNG")
    saved = asset.save(tmp_path)
    assert Path(saved).read_bytes() == png and str(saved).endswith(".png")
    explicit = asset.save(tmp_path / "copy.png")
    assert Path(explicit).read_bytes() == png


def test_grid_of_several_assets(engine: gaia.Engine) -> None:
    job = engine.wait(engine.submit("image", "four", size=(16, 16), count=4, client_id="demo"))
    grid = job.assets()
    html = grid._repr_html_()
    assert html.count("<img ") == 4 and "gaia-grid" in html
    page_html = engine.assets(client_id="demo")._repr_html_()
    assert page_html is not None and page_html.count("<img ") == 4


def test_fixture_assets_without_an_engine_show_nothing() -> None:
    asset = gaia.Asset.from_dict(json.loads((WIRE / "asset_image.json").read_text()))
    assert isinstance(asset, gaia.ImageAsset) and asset._repr_png_() is None
    audio = gaia.Asset.from_dict(json.loads((WIRE / "asset_audio.json").read_text()))
    assert audio._repr_html_() is None
    with pytest.raises(ValueError):
        audio.read_bytes()


def test_to_pil_when_pillow_is_installed(engine: gaia.Engine) -> None:
    pil = pytest.importorskip("PIL.Image")
    asset = engine.generate("image", "pil", size=(24, 24), client_id="demo")
    assert isinstance(asset, gaia.ImageAsset)
    image = asset.to_pil()
    assert isinstance(image, pil.Image) and image.size == (24, 24)


def test_plain_text_progress_bar() -> None:
    from gaia._display import Progress

    out = io.StringIO()
    bar = Progress("019ab3c2-7f10-7a3e-9c41-5d2e8f6a1b20", out=out)
    bar.bar = None  # the plain-text bar, whether or not tqdm is installed
    for percent in (0, 50, 100):
        bar.update(percent)
    bar.close("succeeded")
    text = out.getvalue()
    assert "100%" in text and "succeeded" in text
