"""Equivalence tests that hold the engine together, with stand-in predictors (no TensorFlow)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from cascade import (
    CLEAR,
    CLOUD,
    NODATA,
    PARTLY_CLOUDY,
    CascadeError,
    InputArrayError,
    SceneGeometry,
)
from cascade.classes import CLOUDLESS, OVERCAST
from cascade.engine import ArraySource, EngineConfig, coarse_input, mask_array
from cascade.errors import ArtifactError, BandMismatchError
from cascade.kernels import pool_area, pool_labels
from cascade.routing import DEFAULT_CONFIDENCE, DEFAULT_SMALL_SCENE_CELLS
from tests import fakes

SIZES = [(1000, 1337), (100, 150), (248, 248), (249, 17), (530, 260)]


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_known_mask_is_reproduced_exactly(height: int, width: int) -> None:
    scene, truth = fakes.scene_with_mask(height, width, seed=height + width)
    g = SceneGeometry(height, width)
    fine_calls: list[int] = []
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.threshold_fine(fine_calls))
    result = mask_array(scene, model, band_names=fakes.BANDS, nodata=0)
    np.testing.assert_array_equal(result.mask, truth)
    assert result.mask.dtype == np.uint8
    # Only truly mixed cells ran the fine model, the thin cells (less than half of their core
    # is data: the thin-cell rule of the cascade router) and, in a scene of at most 25 cells,
    # every cell with data (the small-scene rule).
    classes = pool_labels(truth, g)
    mixed = classes == PARTLY_CLOUDY
    data = valid_share(truth, g) > 0
    thin = data & (valid_share(truth, g) < 0.5)
    small = data & (g.rows * g.cols <= DEFAULT_SMALL_SCENE_CELLS)
    np.testing.assert_array_equal(result.routed, mixed | thin | small)
    assert result.routed.sum() == sum(fine_calls)
    assert result.report["patches_run"] == int(result.routed.sum())
    assert result.report["routed_by"] == {
        "router": int(mixed.sum()),
        "thin_cells": int((thin & ~mixed).sum()),
        "small_scene": int((small & ~(mixed | thin)).sum()),
    }


def valid_share(truth: np.ndarray, g: SceneGeometry) -> np.ndarray:
    """The share of each cell's core area that is data, counted on the full-size mask."""
    padded = np.full(g.padded_shape, NODATA, np.uint8)
    padded[: g.height, : g.width] = truth
    cells = padded.reshape(g.rows, g.core, g.cols, g.core)
    return (cells != NODATA).mean(axis=(1, 3))


@pytest.mark.parametrize(("height", "width"), [(1000, 1337), (100, 150)])
def test_routing_all_equals_patch_baseline(height: int, width: int) -> None:
    scene, _truth = fakes.scene_with_mask(height, width, seed=3)
    g = SceneGeometry(height, width)

    # A coarse model that says Cloudless everywhere: routing "all" must ignore it.
    def cloudless(batch: np.ndarray) -> np.ndarray:
        out = np.zeros((1, g.rows, g.cols, 4), np.float32)
        out[..., 2] = 1
        return out

    model = fakes.make_model(cloudless, fakes.smooth_fine)
    result = mask_array(
        scene,
        model,
        band_names=fakes.BANDS,
        nodata=0,
        config=EngineConfig(router="all", batch_size=3),
    )
    expected = fakes.patch_baseline(
        scene, g, fakes.smooth_fine, lambda p: np.where(p[..., 0] >= 0.5, CLOUD, CLEAR)
    )
    np.testing.assert_array_equal(result.mask, expected)
    assert result.routed.all()  # every cell of this scene holds some data
    assert result.report["patches_run"] == g.n_cells


def test_routing_none_equals_upsampled_coarse_classes() -> None:
    scene, truth = fakes.scene_with_mask(1000, 1337, seed=5)
    g = SceneGeometry(1000, 1337)
    fine_calls: list[int] = []
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.threshold_fine(fine_calls))
    result = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(router="none")
    )
    classes = pool_labels(truth, g)
    per_class = np.array([CLOUD, CLOUD, CLEAR, NODATA], np.uint8)  # Partly Cloudy -> cloud
    expected = np.kron(per_class[classes], np.ones((g.core, g.core), np.uint8))[:1000, :1337]
    expected[truth == NODATA] = NODATA
    np.testing.assert_array_equal(result.mask, expected)
    assert fine_calls == []
    assert result.report["patches_run"] == 0


def test_results_do_not_depend_on_batching_strips_or_prefetch() -> None:
    scene, truth = fakes.scene_with_mask(700, 900, seed=9)
    g = SceneGeometry(700, 900)
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.smooth_fine)
    base = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(keep_probabilities=True)
    )
    for cfg in (
        EngineConfig(batch_size=1, strip_rows=37, prefetch=False, keep_probabilities=True),
        EngineConfig(batch_size=64, strip_rows=5000, keep_probabilities=True),
    ):
        other = mask_array(scene, model, band_names=fakes.BANDS, nodata=0, config=cfg)
        np.testing.assert_array_equal(other.mask, base.mask)
        np.testing.assert_array_equal(other.probabilities, base.probabilities)
    assert base.probabilities is not None
    assert np.isnan(base.probabilities[truth == NODATA]).all()


def test_band_names_in_any_order_and_missing_bands() -> None:
    scene, truth = fakes.scene_with_mask(300, 300, seed=1)
    g = SceneGeometry(300, 300)
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.threshold_fine())
    order = [2, 0, 3, 1]
    shuffled = scene[order]
    names = [fakes.BANDS[i].lower() for i in order]  # case does not matter
    res = mask_array(shuffled, model, band_names=names, nodata=0)
    np.testing.assert_array_equal(res.mask, truth)
    # Extra bands are ignored.
    extra = np.concatenate([scene, scene[:1]])
    res = mask_array(extra, model, band_names=[*fakes.BANDS, "B11"], nodata=0)
    np.testing.assert_array_equal(res.mask, truth)
    with pytest.raises(BandMismatchError, match=r"lacks band\(s\) \['B08'\] .* the model expects"):
        mask_array(scene[:3], model, band_names=fakes.BANDS[:3], nodata=0)
    with pytest.raises(BandMismatchError, match=r"has 3 unnamed band\(s\) but the model expects 4"):
        mask_array(scene[:3], model, nodata=0)
    # Unnamed bands with the right count are taken in order.
    np.testing.assert_array_equal(mask_array(scene, model, nodata=0).mask, truth)


def test_all_nodata_scene_gives_all_nodata_without_running_models() -> None:
    scene = np.zeros((4, 300, 400), np.uint16)
    calls: list = []
    model = fakes.make_model(lambda b: calls.append("coarse"), fakes.threshold_fine(calls))
    res = mask_array(scene, model, nodata=0)
    assert (res.mask == NODATA).all()
    assert calls == []
    assert res.report["cells_with_data"] == 0


def test_nan_handling() -> None:
    scene, truth = fakes.scene_with_mask(300, 300, seed=2)
    g = SceneGeometry(300, 300)
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.threshold_fine())
    f = scene.astype(np.float32)
    f[:, truth == NODATA] = np.nan
    res = mask_array(f, model, nodata=float("nan"))
    np.testing.assert_array_equal(res.mask, truth)
    f[1, 5, 7] = np.nan  # one band of a data pixel
    with pytest.raises(
        InputArrayError, match=r"NaN values in 1 data pixel\(s\), first at row 5, column 7"
    ):
        mask_array(f, model, nodata=float("nan"))
    with pytest.raises(InputArrayError, match="NaN values"):
        mask_array(f, model, nodata=None)


def test_bad_inputs() -> None:
    scene, truth = fakes.scene_with_mask(100, 100)
    g = SceneGeometry(100, 100)
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.threshold_fine())
    with pytest.raises(InputArrayError, match=r"unsupported dtype int8"):
        mask_array(scene.astype(np.int8), model)
    with pytest.raises(
        InputArrayError, match=r"\(bands, height, width\), got \(100, 100\).*newaxis"
    ):
        mask_array(scene[0], model)
    with pytest.raises(InputArrayError, match="empty"):
        mask_array(scene[:, :0], model)
    with pytest.raises(
        CascadeError, match=r"unknown router 'fast'; expected one of \['all', 'cascade', 'none'\]"
    ):
        EngineConfig(router="fast")
    with pytest.raises(CascadeError, match="router 'all' takes no options"):
        EngineConfig(router="all", confidence=0.5)
    with pytest.raises(CascadeError, match=r"threshold must be in \(0, 1\)"):
        EngineConfig(threshold=1.5)


def test_callable_router_and_confidence() -> None:
    scene, truth = fakes.scene_with_mask(600, 600, seed=4)
    g = SceneGeometry(600, 600)
    model = fakes.make_model(fakes.oracle_coarse(truth, g), fakes.threshold_fine())

    def first_row(probs: np.ndarray) -> np.ndarray:
        out = np.zeros(probs.shape[:2], bool)
        out[0] = True
        return out

    res = mask_array(
        scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(router=first_row)
    )
    assert res.routed[0].all()
    assert not res.routed[1:].any()
    with pytest.raises(CascadeError, match=r"a router must return a boolean \(3, 3\) grid"):
        mask_array(scene, model, nodata=0, config=EngineConfig(router=lambda p: p[..., 0]))

    def soft(batch: np.ndarray) -> np.ndarray:  # confident about nothing
        return np.full((1, g.rows, g.cols, 4), 0.25, np.float32)

    soft_model = fakes.make_model(soft, fakes.threshold_fine())
    # Cells with data never keep a No Data probability: the router sees 1/3 for each data class.
    res = mask_array(scene, soft_model, nodata=0, config=EngineConfig(confidence=0.4))
    assert res.routed.sum() == res.report["cells_with_data"]
    np.testing.assert_array_equal(res.mask, truth)


def test_uncertain_cells_go_to_the_fine_model() -> None:
    # A coarse model that says Cloudless everywhere, at 0.8 in the left column of cells and 0.95
    # elsewhere. By default (the paper's routing) no cell goes and the left column's clouds are
    # lost; with confidence 0.9 the left column goes to the fine model, which finds them.
    scene, truth = fakes.scene_with_mask(744, 744, seed=4)  # 3 x 3 whole cells: none thin
    g = SceneGeometry(744, 744)

    def hesitant(batch: np.ndarray) -> np.ndarray:
        out = np.zeros((1, g.rows, g.cols, 4), np.float32)
        out[..., CLOUDLESS] = 0.95
        out[..., OVERCAST] = 0.05
        out[:, :, 0, CLOUDLESS] = 0.8
        out[:, :, 0, OVERCAST] = 0.2
        return out

    model = fakes.make_model(hesitant, fakes.threshold_fine())
    coarse_only = np.where(truth == NODATA, NODATA, CLEAR)  # Cloudless cells, No Data kept
    left = slice(None), slice(0, 248)
    assert (truth[left] == CLOUD).any()  # clouds to find there
    assert DEFAULT_CONFIDENCE == 0.0
    # The small-scene rule would route all nine cells of this scene: off, to see the others.
    paper = EngineConfig(small_scene_cells=0)
    off = mask_array(scene, model, band_names=fakes.BANDS, nodata=0, config=paper)
    assert not off.routed.any()
    assert off.report["routed_by"] == {"router": 0, "thin_cells": 0}
    np.testing.assert_array_equal(off.mask, coarse_only)

    res = mask_array(scene, model, nodata=0, config=replace(paper, confidence=0.9))
    expected = np.zeros(g.grid_shape, bool)
    expected[:, 0] = True
    np.testing.assert_array_equal(res.routed, expected)
    assert res.report["routed_by"] == {"router": 0, "thin_cells": 0, "uncertain": g.rows}
    np.testing.assert_array_equal(res.mask[left], truth[left])
    np.testing.assert_array_equal(res.mask[:, 248:], coarse_only[:, 248:])
    # A level below every cell's confidence routes nothing more.
    assert not mask_array(
        scene, model, nodata=0, config=replace(paper, confidence=0.7)
    ).routed.any()
    # Only the cascade router has rules; all and none stay the patch baseline and coarse only.
    none = mask_array(scene, model, nodata=0, config=EngineConfig(router="none"))
    assert not none.routed.any()
    with pytest.raises(CascadeError, match=r"confidence must be in \[0, 1\] \(0: off\), got 1.5"):
        EngineConfig(confidence=1.5)


def test_a_small_scene_routes_every_cell() -> None:
    # A coarse model sure of Cloudless everywhere, wrong wherever the scene has cloud. Nine
    # cells are fewer than the 5 x 5 cells the coarse models learned from: by default every
    # cell goes and the mask is the patch baseline's; 30 cells are not small.
    scene, truth = fakes.scene_with_mask(744, 744, seed=4)
    g = SceneGeometry(744, 744)

    def sure(batch: np.ndarray) -> np.ndarray:
        out = np.zeros((1, batch.shape[1] // 32, batch.shape[2] // 32, 4), np.float32)
        out[..., CLOUDLESS] = 1.0
        return out

    model = fakes.make_model(sure, fakes.threshold_fine())
    assert DEFAULT_SMALL_SCENE_CELLS == 25
    res = mask_array(scene, model, band_names=fakes.BANDS, nodata=0)
    assert res.routed.all()
    assert res.report["routed_by"] == {"router": 0, "thin_cells": 0, "small_scene": g.rows * g.cols}
    assert res.report["config"]["small_scene_cells"] == 25
    every = mask_array(scene, model, nodata=0, config=EngineConfig(router="all"))
    np.testing.assert_array_equal(res.mask, every.mask)
    np.testing.assert_array_equal(res.mask, truth)
    # the rule's size: 9 cells route at 9, not at 8
    assert mask_array(scene, model, nodata=0, config=EngineConfig(small_scene_cells=9)).routed.all()
    assert not mask_array(
        scene, model, nodata=0, config=EngineConfig(small_scene_cells=8)
    ).routed.any()
    big, _ = fakes.scene_with_mask(1240, 1488, seed=5)  # 5 x 6 cells
    assert mask_array(big, model, nodata=0).report["routed_by"]["small_scene"] == 0
    with pytest.raises(
        CascadeError, match=r"small_scene_cells must be a whole number >= 0 \(0: off\), got -1"
    ):
        EngineConfig(small_scene_cells=-1)
    with pytest.raises(
        CascadeError, match=r"small_scene_cells must be a whole number >= 0 \(0: off\), got 2.5"
    ):
        EngineConfig(small_scene_cells=2.5)  # type: ignore[arg-type]


def test_model_output_shapes_are_checked() -> None:
    scene, truth = fakes.scene_with_mask(300, 300)
    g = SceneGeometry(300, 300)
    bad_coarse = fakes.make_model(
        lambda b: np.zeros((1, 5, 5, 4), np.float32), fakes.threshold_fine()
    )
    with pytest.raises(
        CascadeError, match=r"coarse model returned shape \(1, 5, 5, 4\), expected \(1, 2, 2, 4\)"
    ):
        mask_array(scene, bad_coarse, nodata=0)
    bad_fine = fakes.make_model(
        fakes.oracle_coarse(truth, g), lambda b: np.zeros((len(b), 10), np.float32)
    )
    with pytest.raises(CascadeError, match=r"fine model returned shape"):
        mask_array(scene, bad_fine, nodata=0)


def test_mismatched_pair_is_refused() -> None:
    c, _ = fakes.specs()
    _, f = fakes.specs(bands=("B02", "B03", "B04", "B05"))
    from cascade.engine import CascadeModel

    with pytest.raises(ArtifactError, match=r"bands differ: coarse \['B02', 'B03', 'B04', 'B08'\]"):
        CascadeModel(lambda b: b, lambda b: b, c, f)


def test_a_cell_with_data_is_never_no_data() -> None:
    from cascade.engine.stages import data_cells_have_data

    probs = np.array([[[0.1, 0.1, 0.1, 0.7], [0.0, 0.0, 0.0, 1.0], [0.2, 0.5, 0.3, 0.0]]])
    has_data = np.array([[True, True, False]])
    out = data_cells_have_data(probs, has_data)
    np.testing.assert_allclose(out[0, 0], [1 / 3, 1 / 3, 1 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(out[0, 1], [1 / 3, 1 / 3, 1 / 3, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(out[0, 2], [0.0, 0.0, 0.0, 1.0])
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)


def test_coarse_input_is_normalised_pooled_scene() -> None:
    scene, _ = fakes.scene_with_mask(500, 300)
    g = SceneGeometry(500, 300)
    pooled = pool_area(scene, g, nodata=0)
    _, f = fakes.specs()
    gain, offset = f.normalization.coefficients(4)
    x = coarse_input(pooled, gain, offset)
    assert x.shape == (1, *g.coarse_shape, 4)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x[0, ..., 0], pooled.values[0] * 1e-4, rtol=1e-6)
    assert (x[0][pooled.valid_fraction == 0] == 0).all()
    assert ArraySource(scene).band_names == (None,) * 4


def test_decide_sweeps_thresholds_without_inference() -> None:
    """Probabilities first, decisions second: mask_at(t) is the mask of a run at threshold t."""
    scene, truth = fakes.scene_with_mask(530, 700, seed=3)
    g = SceneGeometry(530, 700)
    calls: list = []

    def counted(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape[0])
        return fakes.smooth_fine(batch)

    model = fakes.make_model(fakes.oracle_coarse(truth, g), counted)
    kept = mask_array(
        scene,
        model,
        band_names=fakes.BANDS,
        nodata=0,
        config=EngineConfig(keep_probabilities=True, threshold=0.5),
    )
    np.testing.assert_array_equal(kept.mask_at(0.5), kept.mask)
    for t in (0.2, 0.8):
        n_calls = len(calls)
        swept = kept.mask_at(t)
        assert len(calls) == n_calls  # no new inference
        run = mask_array(
            scene, model, band_names=fakes.BANDS, nodata=0, config=EngineConfig(threshold=t)
        )
        np.testing.assert_array_equal(swept, run.mask)
    assert not np.array_equal(kept.mask_at(0.2), kept.mask_at(0.8))
    plain = mask_array(scene, model, band_names=fakes.BANDS, nodata=0)
    with pytest.raises(ValueError, match="keep_probabilities=True"):
        plain.mask_at(0.3)


def _mean_normalised_model(fine: object) -> object:
    """The band-0 stand-ins with a per-band mean/std normalisation (raw 1000 -> 0)."""
    from cascade.engine import CascadeModel
    from cascade.models.artifacts import Normalization

    norm = Normalization(scale=1e-4, mean=(0.1,) * 4, std=(0.05,) * 4)
    c, f = fakes.specs()
    seen: list[np.ndarray] = []

    def coarse(batch: np.ndarray) -> np.ndarray:
        seen.append(batch)
        return fakes.band0_coarse()(batch * 0.05 + 0.1)  # as if normalised by scale only

    model = CascadeModel(
        coarse, fine, c.with_updates(normalization=norm), f.with_updates(normalization=norm)
    )
    model.seen = seen  # type: ignore[attr-defined]
    return model


def whole_window_fine(batch: np.ndarray) -> np.ndarray:
    """A fine stand-in whose every output pixel depends on the whole window (as a U-Net's
    does): a NaN anywhere in the window makes the whole window NaN."""
    x = batch[..., 0]
    context = batch.mean(axis=(1, 2, 3), keepdims=True)[..., 0]
    p = 1.0 / (1.0 + np.exp(-((x - 6.0) + 0.5 * context)))
    return np.stack([p, 1 - p], axis=-1).astype(np.float32)


@pytest.mark.parametrize(("dtype", "nodata"), [("float32", float("nan")), ("uint16", 0)])
def test_no_data_never_reaches_the_models(dtype: str, nodata: float) -> None:
    """Issue 13: 100 No Data pixels in a cell must not change the fine prediction of the rest
    of it: they are filled with 0 after normalisation (the per-band mean) before the model."""
    scene, truth = fakes.scene_with_mask(496, 496, seed=8)
    scene = scene.astype(dtype)
    rows, cols = np.divmod(np.arange(100) * 7 + 300, 248)  # 100 pixels in cell (0, 0)
    model = _mean_normalised_model(whole_window_fine)
    config = EngineConfig(router="all", keep_probabilities=True)
    filled = scene.copy()
    filled[:, rows, cols] = 1000  # raw values that normalise to exactly the mean
    reference = mask_array(filled, model, band_names=fakes.BANDS, nodata=nodata, config=config)
    holed = scene.copy()
    holed[:, rows, cols] = nodata
    res = mask_array(holed, model, band_names=fakes.BANDS, nodata=nodata, config=config)
    assert res.probabilities is not None
    assert reference.probabilities is not None
    rest = np.ones(truth.shape, bool)
    rest[rows, cols] = False
    rest &= truth != NODATA
    np.testing.assert_allclose(res.probabilities[rest], reference.probabilities[rest], atol=1e-6)
    np.testing.assert_array_equal(res.mask[rest], reference.mask[rest])
    assert (res.mask[rows, cols] == NODATA).all()  # and they stay No Data
    for batch in model.seen:  # type: ignore[attr-defined]
        assert np.isfinite(batch).all()
