"""Raster I/O and mask_scene with stand-in predictors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from cascade import NODATA, CascadeError, SceneGeometry
from cascade.engine import EngineConfig, mask_scene
from cascade.errors import InputError, OutputExistsError
from cascade.io.names import band_name_from_path
from cascade.io.raster import open_source
from tests import fakes
from tests.conftest import SHARED_DATA
from tests.rasters import UTM_CRS, UTM_TRANSFORM, write_scene_tif

CRS = UTM_CRS
TRANSFORM = UTM_TRANSFORM


@pytest.fixture
def scene_file(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    scene, truth = fakes.scene_with_mask(520, 700, seed=11)
    return write_scene_tif(tmp_path / "scene.tif", scene, names=fakes.BANDS), scene, truth


def oracle_model(truth: np.ndarray, calls: list | None = None):  # type: ignore[no-untyped-def]
    g = SceneGeometry(*truth.shape)
    return fakes.make_model(fakes.oracle_coarse(truth, g, calls), fakes.threshold_fine(calls))


def test_mask_scene_writes_georeferenced_cog_and_extras(scene_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _scene, truth = scene_file
    out = tmp_path / "mask.tif"
    result = mask_scene(
        path,
        out,
        oracle_model(truth),
        probabilities=tmp_path / "prob.tif",
        coarse_grid=tmp_path / "grid.tif",
        report=tmp_path / "report.json",
    )
    np.testing.assert_array_equal(result.mask, truth)
    with rasterio.open(out) as ds:
        assert ds.crs.to_string() == CRS
        assert ds.transform == TRANSFORM
        assert (ds.dtypes[0], ds.nodata, ds.count) == ("uint8", 255.0, 1)
        assert ds.profile["tiled"]
        assert ds.profile["compress"] == "deflate"
        np.testing.assert_array_equal(ds.read(1), truth)
        tags = ds.tags()
        assert json.loads(tags["routing"])["patches_run"] == result.report["patches_run"]
        assert json.loads(tags["model"])["bands"] == list(fakes.BANDS)
        assert json.loads(tags["config"])["router"] == "cascade"
        assert tags["cloud_cascade_version"]
    with rasterio.open(tmp_path / "prob.tif") as ds:
        prob = ds.read(1)
        assert ds.dtypes[0] == "float32"
        assert np.isnan(prob[truth == NODATA]).all()
    with rasterio.open(tmp_path / "grid.tif") as ds:
        assert ds.shape == (3, 3)
        assert ds.nodata == 3  # the No Data class: cells without any data pixel
        assert ds.transform == TRANSFORM @ TRANSFORM.scale(248, 248)
        np.testing.assert_array_equal(ds.read(1), result.cell_classes)
    report = json.loads((tmp_path / "report.json").read_text())
    assert set(report["timings_s"]) >= {
        "read_and_pool",
        "coarse",
        "route",
        "fine",
        "write",
        "total",
    }
    assert report["inputs"] == [str(path)]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_outputs_checked_before_any_work(scene_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _scene, truth = scene_file
    out = tmp_path / "mask.tif"
    out.write_bytes(b"keep me")
    calls: list = []
    # From Python the message names the parameter (the command line names --overwrite).
    with pytest.raises(OutputExistsError, match="already exists; pass overwrite=True"):
        mask_scene(path, out, oracle_model(truth, calls))
    assert out.read_bytes() == b"keep me"
    assert calls == []
    with pytest.raises(CascadeError, match=r"folder .*missing does not exist"):
        mask_scene(path, tmp_path / "missing" / "m.tif", oracle_model(truth, calls))
    with pytest.raises(
        CascadeError, match=r"the output .*a\.tif and the probabilities .*a\.tif are the same file"
    ):
        mask_scene(
            path, tmp_path / "a.tif", oracle_model(truth, calls), probabilities=tmp_path / "a.tif"
        )
    assert calls == []
    mask_scene(path, out, oracle_model(truth), overwrite=True)
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.read(1), truth)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_unwritable_folder(scene_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _scene, truth = scene_file
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(CascadeError, match="is not writable"):
            mask_scene(path, ro / "m.tif", oracle_model(truth))
    finally:
        ro.chmod(0o700)


def test_failure_mid_run_leaves_nothing(scene_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path, _scene, truth = scene_file
    g = SceneGeometry(*truth.shape)

    def broken(batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("fine model crashed")

    model = fakes.make_model(fakes.oracle_coarse(truth, g), broken)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(RuntimeError, match="fine model crashed"):
        mask_scene(path, tmp_path / "mask.tif", model, report=tmp_path / "r.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_missing_and_corrupt_inputs(tmp_path: Path) -> None:
    model = oracle_model(np.zeros((10, 10), np.uint8))
    with pytest.raises(InputError, match=r"input .*nope.tif does not exist"):
        mask_scene(tmp_path / "nope.tif", tmp_path / "m.tif", model)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00 this is not really a TIFF")
    with pytest.raises(InputError, match=r"cannot read .*bad.tif as a raster"):
        mask_scene(bad, tmp_path / "m.tif", model)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no raster files"):
        open_source(empty)
    assert not (tmp_path / "m.tif").exists()


def test_band_count_or_names_that_do_not_match(tmp_path: Path) -> None:
    scene, truth = fakes.scene_with_mask(300, 300)
    path = write_scene_tif(tmp_path / "three.tif", scene[:3], names=["B02", "B03", "B05"])
    with pytest.raises(
        CascadeError, match=r"lacks band\(s\) \['B04', 'B08'\].*has \['B02', 'B03', 'B05'\]"
    ):
        mask_scene(path, tmp_path / "m.tif", oracle_model(truth))
    unnamed = write_scene_tif(tmp_path / "unnamed.tif", scene[:3])
    with pytest.raises(CascadeError, match=r"3 unnamed band\(s\) but the model expects 4"):
        mask_scene(unnamed, tmp_path / "m.tif", oracle_model(truth))
    assert not (tmp_path / "m.tif").exists()


def test_missing_crs_warns_and_continues(tmp_path: Path) -> None:
    scene, truth = fakes.scene_with_mask(300, 300)
    path = write_scene_tif(tmp_path / "nocrs.tif", scene, names=fakes.BANDS, crs=None)
    with pytest.warns(UserWarning, match="has no CRS"):
        mask_scene(path, tmp_path / "m.tif", oracle_model(truth))
    with rasterio.open(tmp_path / "m.tif") as ds:
        assert ds.crs is None
        np.testing.assert_array_equal(ds.read(1), truth)


def test_nodata_from_mask_band(tmp_path: Path) -> None:
    scene, truth = fakes.scene_with_mask(300, 300, seed=8)
    path = tmp_path / "masked.tif"
    write_scene_tif(path, scene, names=fakes.BANDS, nodata=None)
    with rasterio.open(path, "r+") as ds:
        ds.write_mask(np.where(truth == NODATA, 0, 255).astype(np.uint8))
    filled = scene.copy()
    filled[:, truth == NODATA] = 77  # values under the mask are not nodata values
    with rasterio.open(path, "r+") as ds:
        ds.write(filled)
    result = mask_scene(path, tmp_path / "m.tif", oracle_model(truth))
    np.testing.assert_array_equal(result.mask, truth)


def test_band_files_at_mixed_resolutions(tmp_path: Path) -> None:
    scene, _truth = fakes.scene_with_mask(400, 300, seed=6, blocks=4)
    folder = tmp_path / "bands"
    folder.mkdir()
    # B02, B03 at 10 m; B04, B08 at 20 m, holding 2 x 2 block means of the 10 m values.
    for i, name in enumerate(fakes.BANDS):
        if i < 2:
            write_scene_tif(folder / f"T18_{name}.tif", scene[i : i + 1], nodata=None)
        else:
            coarse = scene[i].reshape(200, 2, 150, 2).mean(axis=(1, 3)).astype(np.uint16)
            t20 = from_origin(435730.0, 4179460.0, 20.0, 20.0)
            write_scene_tif(
                folder / f"T18_{name}.tif", coarse[np.newaxis], nodata=None, transform=t20
            )
    with open_source(folder, resampling="nearest") as src:
        assert src.band_names == fakes.BANDS
        assert (src.height, src.width) == (400, 300)
        assert src.transform == TRANSFORM
        strip = src.read([3, 0], 10, 30)
        assert strip.shape == (2, 20, 300)
        expected = np.repeat(
            np.repeat(scene[3].reshape(200, 2, 150, 2).mean(axis=(1, 3)).astype(np.uint16), 2, 0),
            2,
            1,
        )
        np.testing.assert_array_equal(strip[0], expected[10:30])
        np.testing.assert_array_equal(strip[1], scene[0, 10:30])
    assert band_name_from_path(Path("S2A_T33UUP_20200101_B8A.jp2")) == "B8A"
    assert band_name_from_path(Path("B01.tif")) == "B01"
    assert band_name_from_path(Path("nir.tif")) == "nir"


VIRGINIA = SHARED_DATA / "s2_l1c_clear_virginia"


@pytest.mark.skipif(not VIRGINIA.is_dir(), reason=f"shared data folder {VIRGINIA} is absent")
def test_real_sentinel2_band_files(tmp_path: Path) -> None:
    with open_source(VIRGINIA) as src:
        assert set(src.band_names) == {f"B{i:02d}" for i in range(1, 13)} | {"B8A"}
        assert (src.height, src.width) == (1947, 1933)  # the 10 m grid
        assert src.dtype == np.uint16
        with rasterio.open(VIRGINIA / "B02.tif") as ref:
            assert src.transform == ref.transform
            crs = ref.crs
    bands = ("B01", "B02", "B03", "B04", "B08", "B09", "B10")
    g = SceneGeometry(1947, 1933)

    def partly(batch: np.ndarray) -> np.ndarray:  # route every cell through windowed reads
        out = np.zeros((1, g.rows, g.cols, 4), np.float32)
        out[..., 1] = 1
        return out

    seen: list[float] = []

    def reflectance_fine(batch: np.ndarray) -> np.ndarray:
        seen.append(float(np.median(batch[..., 1])))
        cloud = (batch[..., 1] > 0.3).astype(np.float32)  # B02 reflectance
        return cloud[..., np.newaxis]

    model = fakes.make_model(partly, reflectance_fine, bands=bands)
    out = tmp_path / "virginia-mask.tif"
    result = mask_scene(VIRGINIA, out, model, config=EngineConfig(batch_size=16))
    with rasterio.open(out) as ds:
        assert ds.crs == crs
        assert ds.transform == src.transform
        assert ds.shape == (1947, 1933)
    assert result.report["patches_run"] == g.n_cells
    # A cloud-free scene: reflectances are plausible and the mask is (almost) all clear.
    assert 0.02 < np.median(seen) < 0.3
    assert (result.mask == 0).mean() > 0.95
