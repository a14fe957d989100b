"""Shipped model pairs: picking one for a scene's bands, the sample scene, quicklooks, and
each shipped artifact loaded and run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cascade.bands import match_bands
from cascade.engine import EngineConfig
from cascade.errors import ArtifactError, BandMismatchError, CascadeError
from cascade.io.quicklook import decimation, quicklook
from cascade.models import pretrained
from cascade.models.artifacts import ModelSpec, load_pair_specs

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample" / "s2cloudless_scene.tif"


def test_band_names_match_through_sensor_aliases() -> None:
    # A Sentinel-2 file feeds a sensor-independent Blue/Green/Red/NIR model.
    assert match_bands(["B01", "B02", "B03", "B04", "B08"], ["Red", "Green", "Blue", "NIR"]) == [
        3,
        2,
        1,
        4,
    ]
    assert match_bands(["blue", "GREEN", "Red", "nir"], ["Blue", "Green", "Red", "NIR"]) == [
        0,
        1,
        2,
        3,
    ]
    with pytest.raises(BandMismatchError, match=r"lacks band\(s\) \['NIR'\]"):
        match_bands(["B02", "B03", "B04"], ["Blue", "Green", "Red", "NIR"])


def _fake_pairs(root: Path) -> None:
    for name, bands in (
        ("sentinel2-l1c-7", ("B01", "B02", "B03", "B04", "B08", "B09", "B10")),
        ("rgbn", ("Blue", "Green", "Red", "NIR")),
    ):
        for role, arch in (("coarse", "coarse-encoder"), ("fine", "Unet")):
            ModelSpec(role=role, architecture=arch, backbone="mobilenetv2", bands=bands).write(
                root / name / f"{role}.json"
            )


def test_choose_model_by_names_aliases_and_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sentinel2-l1c-7").mkdir()
    (tmp_path / "rgbn").mkdir()
    _fake_pairs(tmp_path)
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path)
    all13 = [f"B{i:02d}" for i in range(1, 13)] + ["B8A"]
    assert pretrained.choose_model(all13).name == "sentinel2-l1c-7"
    got = pretrained.choose_model(["B02", "B03", "B04", "B08", "B11"])
    assert got.name == "rgbn"
    assert got.folder == tmp_path / "rgbn"
    assert "matched by name" in got.reason
    assert pretrained.choose_model([None] * 4).name == "rgbn"
    assert "taken by position" in pretrained.choose_model([None] * 7).reason
    with pytest.raises(BandMismatchError, match=r"fit none of the shipped models \(sentinel2"):
        pretrained.choose_model(["B02", "B03", "B11"])
    with pytest.raises(BandMismatchError, match=r"has 5 unnamed bands; the shipped models take"):
        pretrained.choose_model([None] * 5)
    assert pretrained.resolve_model("rgbn") == tmp_path / "rgbn"
    assert pretrained.resolve_model(tmp_path) == tmp_path
    with pytest.raises(ArtifactError, match=r"'nope' is neither a folder nor a shipped model"):
        pretrained.resolve_model("nope")
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "empty")
    with pytest.raises(ArtifactError, match="no shipped model pairs are installed"):
        pretrained.choose_model(["B02"])


def test_input_scale_is_checked_and_recorded() -> None:
    assert EngineConfig(input_scale=1.0).to_dict()["input_scale"] == 1.0
    with pytest.raises(CascadeError, match=r"input_scale must be a positive number .* got -1"):
        EngineConfig(input_scale=-1.0)


def test_quicklook_panels() -> None:
    rgb = np.zeros((3, 10, 12), np.float32)
    rgb[0] = np.linspace(0, 0.3, 12)
    mask = np.zeros((10, 12), np.uint8)
    mask[:5, :6] = 1
    mask[9] = 255
    pic = quicklook(rgb, mask, np.array([[0, 1]]), core=6)
    assert pic.shape == (10, 2 * 12 + 8, 3)
    assert pic.dtype == np.uint8
    right = pic[:, 20:].astype(int)
    assert (right[9] == 90).all()  # no data grey
    assert tuple(right[2, 3]) != tuple(pic[2, 3])  # cloud tinted on the right only
    assert tuple(right[4, 6]) == (255, 230, 0)  # cell (0, 1) outlined
    assert decimation(10980, 10980) == 11
    with pytest.raises(ValueError, match="same H, W"):
        quicklook(rgb, mask[:5])


# ------------------------------------------------------------------- the shipped artifacts


@pytest.mark.slow
@pytest.mark.parametrize("name", pretrained.SHIPPED_ORDER)
def test_each_shipped_pair_loads_and_runs(name: str) -> None:
    from cascade.engine import load_cascade_model, mask_array

    folder = pretrained.PRETRAINED_DIR / name
    specs = load_pair_specs(folder)  # sidecars valid, pair consistent, weights' SHA-256 match
    assert specs.coarse.weights_dtype == specs.fine.weights_dtype == "float16"
    # The recipe that trained it: NAME.toml, or one that fine-tunes NAME's (rgbn-shadow).
    assert specs.fine.provenance["recipe"].split("-shadow")[0] == name
    assert 0.0 < specs.fine.threshold < 1.0
    # Shadow marked by default only where the sidecar names a tuned shadow threshold.
    shadow = "shadow" in specs.fine.classes and "shadow_threshold" in specs.fine.options
    model = load_cascade_model(folder)
    rng = np.random.default_rng(0)
    scene = (rng.random((len(specs.bands), 300, 260)) * 3000 + 500).astype(np.uint16)
    res = mask_array(
        scene, model, band_names=specs.bands, config=EngineConfig(router="all", input_scale=1e-4)
    )
    assert res.mask.shape == (300, 260)
    assert set(np.unique(res.mask)) <= ({0, 1, 2} if shadow else {0, 1})
    assert (res.report["shadow"] is not None) == shadow


def test_shipped_weights_stay_under_25_mb() -> None:
    total = sum(
        p.stat().st_size
        for name in pretrained.SHIPPED_ORDER
        for p in (pretrained.PRETRAINED_DIR / name).glob("*.weights.h5")
    )
    assert 0 < total < 25e6


def test_mask_picks_the_shipped_model_and_writes_a_quicklook(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cascade.cli import main

    if not SAMPLE.is_file():
        pytest.fail(f"the sample scene {SAMPLE} is missing from the repository")
    out = tmp_path / "mask.tif"
    png = tmp_path / "quick.png"
    res = CliRunner().invoke(
        main, ["mask", str(SAMPLE), str(out), "--quicklook", str(png), "--router", "none"]
    )
    assert res.exit_code == 0, res.output
    assert "model: shipped sentinel2-l1c-7 (bands B01, B02" in res.output
    import imageio.v3 as iio

    pic = iio.imread(png)
    assert pic.shape == (856, 2 * 512 + 8, 3)
    again = CliRunner().invoke(main, ["mask", str(SAMPLE), str(out), "--quicklook", str(png)])
    assert again.exit_code != 0
    assert "already exists" in again.output


def test_batch_without_a_model_uses_the_shipped_pair_for_the_first_scene() -> None:
    from cascade.batch import BatchError, resolve_model_dir

    assert resolve_model_dir(None, str(SAMPLE)) == pretrained.PRETRAINED_DIR / "sentinel2-l1c-7"
    assert resolve_model_dir("rgbn") == pretrained.PRETRAINED_DIR / "rgbn"
    with pytest.raises(BatchError, match="no model pair given and no scene"):
        resolve_model_dir(None)


def test_thin_scenes_and_edge_rows_of_a_clear_scene_are_not_called_cloud() -> None:
    """Issue 13: the shipped coarse model calls thin cells (1 x 1 and 10 x 300 scenes, a
    12-row last cell row) Overcast; the thin-cell rule sends them to the fine model."""
    from cascade.engine import load_cascade_model, mask_array
    from cascade.io.raster import open_source
    from tests.conftest import SHARED_DATA

    folder = SHARED_DATA / "s2_l1c_clear_virginia"
    if not folder.is_dir():
        pytest.skip(f"the shared data {folder} is absent")
    model = load_cascade_model(pretrained.PRETRAINED_DIR / "sentinel2-l1c-7")
    with open_source(folder, resampling="nearest") as src:
        idx = match_bands(src.band_names, model.bands)
        block = src.read(idx, 100, 360)[:, :, 100:700]
    for h, w in [(1, 1), (10, 300), (260, 600)]:
        scene = np.ascontiguousarray(block[:, :h, :w])
        res = {
            router: mask_array(
                scene, model, band_names=model.bands, nodata=0, config=EngineConfig(router=router)
            )
            for router in ("cascade", "all")
        }
        edge = (res["cascade"].geometry.rows - 1) * 248  # the last (thin) cell row: routed
        np.testing.assert_array_equal(res["cascade"].mask[edge:], res["all"].mask[edge:])
        assert (res["cascade"].mask == res["all"].mask).mean() >= 0.99
        last_row = res["cascade"].mask[edge:]
        # a clear scene: clear but for what the fine model itself calls cloud (the retrained
        # pair calls 7 of the 3000 pixels of the 10 x 300 strip cloud, a strip it sees
        # mirrored 25 times over its window), never a whole thin cell called Overcast
        assert (last_row == 1).mean() <= 0.01, (h, w)
        assert res["cascade"].report["routed_by"]["thin_cells"] >= 1
