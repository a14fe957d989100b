"""The coarse stage from overviews (COG, JPEG 2000) against exact full-resolution pooling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cascade import CLEAR, CLOUD, NODATA
from cascade.engine import CascadeResult, EngineConfig, run_cascade
from cascade.errors import ConfigError, InputError
from cascade.io.raster import open_source
from tests.fakes import BANDS, band0_coarse, make_model, scene_with_mask, threshold_fine
from tests.rasters import write_cog, write_jp2, write_scene_tif


def _run(path: Path | str, coarse_from: str, router: str = "cascade") -> CascadeResult:
    """The scenes here are small (at most 25 cells): the small-scene rule is off, so that the cascade
    routes only what the coarse model picks."""
    model = make_model(band0_coarse(), threshold_fine())
    config = EngineConfig(
        coarse_from=coarse_from, router=router, prefetch=False, small_scene_cells=0
    )
    with open_source(path) as src:
        return run_cascade(src, model, config)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray]:
    return scene_with_mask(1100, 1030, seed=3, blocks=9)


def test_cog_overview_path_agrees_with_exact_pooling(
    tmp_path: Path, scene: tuple[np.ndarray, np.ndarray]
) -> None:
    data, truth = scene
    path = write_cog(tmp_path / "scene.tif", data, names=BANDS)
    full = _run(path, "full")
    auto = _run(path, "auto")
    ov = auto.report["coarse_input"]
    assert (ov["from"], ov["factor"], ov["overviews_available"]) == ("overview", 4, [2, 4, 8])
    assert full.report["coarse_input"]["from"] == "full"
    assert auto.report["config"]["coarse_from"] == "auto"
    # cell classes: >= 99 % equal; masks: >= 99.5 % of pixels
    assert (auto.cell_classes == full.cell_classes).mean() >= 0.99
    assert (auto.mask == full.mask).mean() >= 0.995
    # no valid pixel becomes No Data, and No Data stays No Data where the overview shows it
    assert not ((auto.mask == NODATA) & (truth != NODATA)).any()
    np.testing.assert_array_equal(full.mask == NODATA, truth == NODATA)
    # the coarse stage decoded a fraction of the pixels; the cells short of data were read
    # again in full (the scene has No Data blocks and a partial last row and column)
    assert 0 < ov["exact_cells"] < auto.geometry.n_cells
    assert auto.report["pixels_read"]["coarse"] < 0.5 * full.report["pixels_read"]["coarse"]
    assert full.report["pixels_read"]["coarse"] == data.size


def test_valid_pixels_hidden_by_a_nearest_overview_stay_valid(tmp_path: Path) -> None:
    # A block of No Data with valid pixels only where a nearest-neighbour 1/4 overview never
    # samples: the overview shows the cells empty, the exact re-read finds the pixels.
    data, truth = scene_with_mask(1000, 1000, seed=5, blocks=4)
    data[:, :500, :500] = 0
    truth[:500, :500] = NODATA
    data[:, 3:500:4, 3:500:4] = 1000  # clear pixels off the overview's samples
    truth[3:500:4, 3:500:4] = CLEAR
    path = write_cog(tmp_path / "sparse.tif", data, names=BANDS, resampling="nearest")
    with open_source(path) as src:
        reduced, _ = src.read_reduced([0], 4)
    assert not reduced[0, :125, :125].any()  # the overview sees nothing there
    result = _run(path, "overview")
    assert not ((result.mask == NODATA) & (truth != NODATA)).any()
    kept = result.mask[3:500:4, 3:500:4]
    assert np.isin(kept, (CLEAR, CLOUD)).all()


def test_jpeg2000_takes_the_reduced_resolution_path(
    tmp_path: Path, scene: tuple[np.ndarray, np.ndarray]
) -> None:
    data, _ = scene
    path = write_jp2(tmp_path / "scene.jp2", data, names=BANDS)
    full = _run(path, "full")
    auto = _run(path, "auto")
    assert auto.report["coarse_input"]["from"] == "overview"
    assert auto.report["coarse_input"]["factor"] == 4
    assert (auto.mask == full.mask).mean() >= 0.995


def test_overview_requested_where_there_is_none(
    tmp_path: Path, scene: tuple[np.ndarray, np.ndarray]
) -> None:
    data, _ = scene
    path = write_scene_tif(tmp_path / "plain.tif", data[:, :600, :600], names=BANDS)
    assert _run(path, "auto").report["coarse_input"]["from"] == "full"
    with pytest.raises(InputError, match=r"has no overview of a factor from 2 to the pool ratio"):
        _run(path, "overview")
    with pytest.raises(ConfigError, match=r"must be one of auto, full, overview, got 'some'"):
        EngineConfig(coarse_from="some")


def test_fine_reads_scale_with_the_routed_cells(tmp_path: Path) -> None:
    data, _ = scene_with_mask(1100, 1030, seed=4, blocks=2)
    path = write_cog(tmp_path / "scene.tif", data, names=BANDS)
    cascade = _run(path, "auto")
    every = _run(path, "auto", router="all")
    none = _run(path, "auto", router="none")
    assert none.report["pixels_read"]["fine"] == 0
    routed = int(cascade.routed.sum())
    assert 0 < routed < every.routed.sum()
    # one margin window (264 x 264, less at the edges) per routed cell at most
    bands = len(BANDS)
    assert cascade.report["pixels_read"]["fine"] <= routed * 264 * 264 * bands
    assert cascade.report["pixels_read"]["fine"] < every.report["pixels_read"]["fine"]


def _corner_cloud_scene(side: int) -> np.ndarray:
    """Band 0 cloud in a disc around the top-left corner, the other bands noisy ground: the
    Partly Cloudy cells lie along one arc, as where a cloud field ends."""
    rng = np.random.default_rng(7)
    data = rng.integers(200, 264, size=(len(BANDS), side, side), dtype=np.uint16)
    yy, xx = np.mgrid[:side, :side]
    data[0] = np.where(yy**2 + xx**2 < (0.4 * side) ** 2, 5000, 1000)
    return data


def test_remote_cog_is_masked_from_a_fraction_of_its_bytes(tmp_path: Path) -> None:
    from tests.http_server import serve

    path = write_cog(tmp_path / "scene.tif", _corner_cloud_scene(2976), names=BANDS, block=128)
    local = _run(path, "auto")
    with serve(tmp_path) as served:
        remote = _run(f"{served.url}/scene.tif", "auto")
    np.testing.assert_array_equal(remote.mask, local.mask)
    assert remote.report["coarse_input"]["from"] == "overview"
    assert remote.report["routed_fraction"] <= 0.25
    size = path.stat().st_size
    assert served.bytes <= 0.4 * size, (served.bytes, size, served.requests)


def test_cli_masks_a_url_and_names_a_missing_one(
    tmp_path: Path, stand_in_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import rasterio

    from tests import faults
    from tests.http_server import serve

    data, _ = scene_with_mask(600, 500, seed=2)
    write_cog(tmp_path / "srv" / "scene.tif", data, names=BANDS)
    out = tmp_path / "out"
    out.mkdir()
    with serve(tmp_path / "srv") as served:
        url = f"{served.url}/scene.tif"
        res = faults.run_cli(["mask", url, out / "m.tif", "--model", stand_in_dir], monkeypatch)
        assert res.exit_code == 0, res.output
        missing = faults.run_cli(
            ["mask", f"{served.url}/nothing.tif", out / "n.tif", "--model", stand_in_dir],
            monkeypatch,
        )
    assert served.bytes > 0
    report = json.loads((out / "m.json").read_text())
    assert report["inputs"] == [f"/vsicurl/{url}"]
    with rasterio.open(out / "m.tif") as ds:
        assert ds.shape == (600, 500)
    assert missing.exit_code != 0
    assert f"cannot read /vsicurl/{served.url}/nothing.tif as a raster" in missing.output
    assert not (out / "n.tif").exists()
