"""The example notebook runs headless and shows images; the typed example passes mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_executes_and_shows_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    # The notebook keeps its engine in a `tempfile.mkdtemp()` folder: the
    # kernel inherits TMPDIR, so that folder goes away with `tmp_path`.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    notebook = nbformat.read(HERE / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) >= 2, "the image assets did not display inline"
    grids = [out for out in outputs if "gaia-grid" in out.get("data", {}).get("text/html", "")]
    assert grids and grids[0]["data"]["text/html"].count("<img ") == 4


def test_typed_example_passes_mypy() -> None:
    pytest.importorskip("mypy")
    example = HERE / "examples" / "typed_example.py"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(example)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
