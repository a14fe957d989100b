"""Cloud shadow through the engine, with stand-in predictors: the three-class mask, routing on
unusable ground, the equivalences, options and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from cascade import CLEAR, CLOUD, NODATA, SHADOW, SceneGeometry
from cascade.engine import EngineConfig, mask_array, mask_scene, write_usable
from cascade.engine.decide import mask_from_classes, usable_mask
from cascade.errors import ConfigError, InputError, OutputExistsError
from cascade.kernels import pool_labels
from tests import fakes
from tests.rasters import write_scene_tif

H, W = 700, 900


@pytest.fixture(scope="module")
def shadowed() -> tuple[np.ndarray, np.ndarray]:
    return fakes.scene_with_shadow(H, W, seed=5)


def _oracle(truth: np.ndarray, **options: float):  # type: ignore[no-untyped-def]
    """Oracle models with a shadow output whose sidecar names its tuned threshold (0.5 unless
    ``options`` say otherwise; ``shadow_threshold=None``: an untuned shadow output)."""
    options = {"shadow_threshold": 0.5, **options}
    tuned = {k: v for k, v in options.items() if v is not None}
    return fakes.make_shadow_model(fakes.oracle_coarse(truth, SceneGeometry(*truth.shape)), **tuned)


def test_known_three_class_mask_is_reproduced(shadowed) -> None:  # type: ignore[no-untyped-def]
    scene, truth = shadowed
    assert {CLEAR, CLOUD, SHADOW, NODATA} <= set(np.unique(truth).tolist())
    res = mask_array(scene, _oracle(truth), band_names=fakes.BANDS, nodata=0)
    np.testing.assert_array_equal(res.mask, truth)
    assert res.report["shadow"] == 0.5  # the sidecar's tuned threshold
    assert res.report["pixels"]["shadow"] == int((truth == SHADOW).sum())
    assert res.report["mask_classes"] == "0 clear, 1 cloud, 2 cloud shadow, 255 no data"
    # Cells of clear and shadow only are Partly Cloudy (usable and unusable mixed): routed.
    g = SceneGeometry(H, W)
    cells = pool_labels(truth, g)
    no_cloud = pool_labels(np.where(truth == SHADOW, CLEAR, truth).astype(np.uint8), g)
    assert ((cells == 1) & (no_cloud == 2)).any()
    assert res.routed[(cells == 1)].all()


def test_route_all_is_the_patch_baseline_and_route_none_coarse_only(shadowed) -> None:  # type: ignore[no-untyped-def]
    scene, truth = shadowed
    g = SceneGeometry(H, W)
    model = _oracle(truth)
    every = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(router="all")
    )
    # The patch baseline by hand: every window through the fine stand-in, cores placed.
    baseline = fakes.patch_baseline(
        scene,
        g,
        fakes.shadow_fine,
        lambda p: np.where(p[..., 0] >= 0.5, CLOUD, np.where(p[..., 3] >= 0.5, SHADOW, CLEAR)),
    )
    np.testing.assert_array_equal(every.mask, baseline)
    none = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(router="none")
    )
    expected = mask_from_classes(none.cell_classes, g)
    expected[truth == NODATA] = NODATA
    np.testing.assert_array_equal(none.mask, expected)
    assert not (none.mask == SHADOW).any()  # the coarse model has no shadow output


def test_shadow_options(shadowed) -> None:  # type: ignore[no-untyped-def]
    scene, truth = shadowed
    off = mask_array(
        scene, _oracle(truth), band_names=fakes.BANDS, nodata=0, config=EngineConfig(shadow=False)
    )
    np.testing.assert_array_equal(off.mask, np.where(truth == SHADOW, CLEAR, truth))
    assert off.report["shadow"] is None
    assert off.report["mask_classes"] == "0 clear, 1 cloud, 255 no data"
    # A shadow output without a tuned threshold in its sidecar is used only when asked for,
    # then at the default threshold.
    untuned = _oracle(truth, shadow_threshold=None)
    assert mask_array(scene, untuned, band_names=fakes.BANDS, nodata=0).report["shadow"] is None
    asked = mask_array(
        scene, untuned, band_names=fakes.BANDS, nodata=0, config=EngineConfig(shadow=True)
    )
    assert asked.report["shadow"] == 0.5
    np.testing.assert_array_equal(asked.mask, truth)
    # The sidecar's threshold is used, and the configuration's wins over it.
    assert (
        mask_array(
            scene, _oracle(truth, shadow_threshold=0.7), band_names=fakes.BANDS, nodata=0
        ).report["shadow"]
        == 0.7
    )
    cfg = EngineConfig(shadow_threshold=0.2, keep_probabilities=True)
    res = mask_array(
        scene, _oracle(truth, shadow_threshold=0.7), band_names=fakes.BANDS, nodata=0, config=cfg
    )
    assert res.report["shadow"] == 0.2
    assert res.shadow_probabilities is not None
    assert np.isnan(res.shadow_probabilities[truth == NODATA]).all()
    np.testing.assert_array_equal(res.mask_at(0.5), res.mask)
    # A shadow threshold above every probability re-decides shadow away, without inference.
    np.testing.assert_array_equal(res.mask_at(0.5, 0.95), off.mask)
    np.testing.assert_array_equal(res.usable, usable_mask(truth))
    two_class = fakes.make_model(
        fakes.oracle_coarse(truth, SceneGeometry(H, W)), fakes.threshold_fine()
    )
    with pytest.raises(
        ConfigError,
        match=r"has no cloud-shadow output \(its classes are \['cloud', 'clear', 'nodata'\]\)",
    ):
        mask_array(
            scene, two_class, band_names=fakes.BANDS, nodata=0, config=EngineConfig(shadow=True)
        )
    # A two-class model without the option: the mask of before.
    assert mask_array(scene, two_class, band_names=fakes.BANDS, nodata=0).report["shadow"] is None
    with pytest.raises(ConfigError, match=r"shadow_threshold must be in \(0, 1\), got 1.5"):
        EngineConfig(shadow_threshold=1.5)


def test_usable_mask_codes() -> None:
    m = np.array([[CLEAR, CLOUD, SHADOW, NODATA]], np.uint8)
    assert usable_mask(m).tolist() == [[1, 0, 0, 255]]


def test_mask_scene_writes_shadow_valid_and_two_probability_bands(shadowed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    scene, truth = shadowed
    path = write_scene_tif(tmp_path / "scene.tif", scene, names=fakes.BANDS)
    out = tmp_path / "mask.tif"
    mask_scene(
        path, out, _oracle(truth), probabilities=tmp_path / "p.tif", valid=tmp_path / "valid.tif"
    )
    with rasterio.open(out) as ds:
        np.testing.assert_array_equal(ds.read(1), truth)
        assert ds.tags()["classes"] == "0 clear, 1 cloud, 2 cloud shadow, 255 no data"
        assert json.loads(ds.tags()["config"])["shadow"] is None
    with rasterio.open(tmp_path / "valid.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), usable_mask(truth))
        assert ds.tags()["classes"].startswith("0 unusable (cloud or cloud shadow), 1 usable")
        assert ds.descriptions == ("usable",)
    with rasterio.open(tmp_path / "p.tif") as ds:
        assert ds.count == 2
        assert ds.descriptions == ("cloud_probability", "shadow_probability")
        shade = ds.read(2)
        assert (shade[truth == SHADOW] == np.float32(0.9)).all()
    # The same usable mask made afterwards from the mask file alone (`cascade batch --valid`
    # on masks that exist); a file that is not a cascade mask is refused, naming it.
    write_usable(out, tmp_path / "later.tif")
    with rasterio.open(tmp_path / "valid.tif") as a, rasterio.open(tmp_path / "later.tif") as b:
        np.testing.assert_array_equal(a.read(), b.read())
        assert (a.tags(), a.crs, a.transform, a.nodata) == (b.tags(), b.crs, b.transform, b.nodata)
    with pytest.raises(OutputExistsError, match=r"later\.tif already exists"):
        write_usable(out, tmp_path / "later.tif")
    with pytest.raises(InputError, match=r"valid\.tif is not a cloud-cascade mask"):
        write_usable(tmp_path / "valid.tif", tmp_path / "twice.tif")
    assert not (tmp_path / "twice.tif").exists()


def test_cli_writes_shadow_and_the_usable_mask_with_the_shipped_rgbn_pair(tmp_path: Path) -> None:
    """`cascade mask --valid` with the shipped rgbn pair (a shadow output): the mask's classes
    tag names shadow, the usable mask follows the mask; `--no-shadow` gives a cloud-only mask."""
    from click.testing import CliRunner

    from cascade.cli import main

    scene, _ = fakes.scene_with_shadow(520, 600, seed=3)
    names = ("Blue", "Green", "Red", "NIR")
    path = write_scene_tif(tmp_path / "s.tif", scene, names=names)
    out, valid = tmp_path / "m.tif", tmp_path / "v.tif"
    base = ["mask", str(path), str(out), "--model", "rgbn", "--scale", "1e-4", "-q"]
    res = CliRunner().invoke(main, [*base, "--valid", str(valid)])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as m, rasterio.open(valid) as v:
        assert m.tags()["classes"] == "0 clear, 1 cloud, 2 cloud shadow, 255 no data"
        np.testing.assert_array_equal(v.read(1), usable_mask(m.read(1)))
    res = CliRunner().invoke(main, [*base, "--no-shadow", "--overwrite"])
    assert res.exit_code == 0, res.output
    with rasterio.open(out) as m:
        assert m.tags()["classes"] == "0 clear, 1 cloud, 255 no data"
        assert not (m.read(1) == SHADOW).any()
