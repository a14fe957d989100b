from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cascade import InputArrayError, SceneGeometry
from cascade.kernels import AreaPooler, axis_weights, pool_area
from cascade.kernels.reference import pool_area_ref
from tests.conftest import SMALL, geometries, random_scene


def _block_mean_oracle(img: np.ndarray, g: SceneGeometry) -> np.ndarray:
    """Repeat each pixel stride x stride times, pad with NaN, then average core x core blocks."""
    up = np.repeat(np.repeat(img.astype(np.float64), g.stride, 0), g.stride, 1)
    full = np.full((g.padded_shape[0] * g.stride, g.padded_shape[1] * g.stride), np.nan)
    full[: up.shape[0], : up.shape[1]] = up
    oh, ow = g.coarse_shape
    blocks = full.reshape(oh, g.core, ow, g.core)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks: padding only
        return np.nanmean(blocks, axis=(1, 3))


def test_non_integer_ratio_matches_block_oracle(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 1, 70, 50)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    assert g.pool_ratio == 7.75
    got = pool_area(scene, g, fill_value=np.nan)
    want = _block_mean_oracle(scene[0], g)
    np.testing.assert_allclose(got.values[0], want, rtol=1e-6, equal_nan=True)


def test_hand_computed_weights() -> None:
    # 7.75 px per coarse pixel along an axis: pixel 7 is split 3/4 to coarse 0 and 1/4 to 1.
    first, w_first, w_next = axis_weights(16, core=31, stride=4)
    assert first[:9].tolist() == [0] * 8 + [1]
    assert w_first[7] == 3
    assert w_next[7] == 1
    assert (w_first + w_next == 4).all()
    assert w_first[:8].sum() + 0 == 31  # coarse pixel 0 gets 7 whole pixels + 3/4
    row = np.arange(16, dtype=np.float64)
    scene = np.broadcast_to(row, (1, 16, 16)).copy()
    g = SceneGeometry(16, 16, **SMALL)
    expected_first = (sum(range(7)) * 4 + 7 * 3) / 31.0
    assert pool_area(scene, g).values[0, 0, 0] == pytest.approx(expected_first)


@pytest.mark.parametrize("dtype", ["uint16", "float32", "int16", "uint8"])
def test_agrees_with_reference(rng: np.random.Generator, dtype: str) -> None:
    scene = random_scene(rng, 3, 101, 77, dtype)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    got, want = pool_area(scene, g), pool_area_ref(scene, g)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    np.testing.assert_allclose(got.valid_fraction, want.valid_fraction, rtol=1e-6)


def test_paper_geometry_agrees_with_reference(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 2, 1000, 1337)
    g = SceneGeometry.from_shape(scene.shape)
    got, want = pool_area(scene, g, nodata=0), pool_area_ref(scene, g, nodata=0)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    np.testing.assert_allclose(got.valid_fraction, want.valid_fraction, rtol=1e-6)
    # Coarse pixels wholly in the completion padding carry no data.
    rows_in_scene = -(-1000 * 32 // 248)
    assert (got.valid_fraction[rows_in_scene:] == 0).all()
    assert got.valid_fraction[0, 0] == 1.0


@pytest.mark.parametrize("nodata", [0, float("nan")])
def test_nodata_is_ignored(rng: np.random.Generator, nodata: float) -> None:
    scene = random_scene(rng, 3, 62, 62, "float32")
    scene[:, :31, :] = nodata  # rows of the first cell row: every band
    scene[1, 40:, 10:] = 0  # zero in a single band only: still data, and counted
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    got = pool_area(scene, g, nodata=nodata, fill_value=-1.0)
    want = pool_area_ref(scene, g, nodata=nodata, fill_value=-1.0)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6, equal_nan=True)
    # The first cell row in coarse pixels (stride 4) is all nodata.
    assert (got.values[:, :4] == -1.0).all()
    assert (got.valid_fraction[:4] == 0).all()
    assert np.isfinite(got.values).all()
    assert (got.valid_fraction[4:] == 1).all()


def test_nan_in_some_bands_of_a_data_pixel_propagates(rng: np.random.Generator) -> None:
    # Under the per-pixel rule such a pixel is data; its NaN is not silently dropped.
    scene = random_scene(rng, 2, 31, 31, "float32")
    scene[1, 3, 3] = np.nan
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    got = pool_area(scene, g, nodata=float("nan"))
    assert np.isnan(got.values[1, 0, 0])
    assert np.isfinite(got.values[0]).all()


def test_all_nodata_scene(rng: np.random.Generator) -> None:
    scene = np.zeros((2, 40, 40), np.uint16)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    got = pool_area(scene, g, nodata=0, fill_value=5.0)
    assert (got.values == 5.0).all()
    assert (got.valid_fraction == 0).all()


@given(geometries(), st.integers(0, 10000), st.integers(1, 3))
def test_constant_image_pools_to_constant(g: SceneGeometry, value: int, bands: int) -> None:
    scene = np.full((bands, g.height, g.width), value, dtype=np.uint16)
    got = pool_area(scene, g, fill_value=np.nan)
    has = got.valid_fraction > 0
    assert has.any()
    assert (got.values[:, has] == value).all()  # exact, not approximately
    assert np.isnan(got.values[:, ~has]).all()
    assert (got.valid_fraction <= 1.0 + 1e-6).all()


@given(geometries(), st.data())
def test_strips_in_any_order_equal_whole(g: SceneGeometry, data: st.DataObject) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    scene = random_scene(np.random.default_rng(seed), 2, g.height, g.width, "float32")
    cuts = sorted(set(data.draw(st.lists(st.integers(1, max(1, g.height - 1)), max_size=5))))
    bounds = [0, *[c for c in cuts if 0 < c < g.height], g.height]
    strips = list(itertools.pairwise(bounds))
    order = data.draw(st.permutations(strips))
    pooler = AreaPooler(g, 2)
    for start, stop in order:
        pooler.add(scene[:, start:stop], start)
    whole = pool_area(scene, g)
    part = pooler.result()
    np.testing.assert_allclose(part.values, whole.values, rtol=1e-6)
    np.testing.assert_array_equal(part.valid_fraction, whole.valid_fraction)
    np.testing.assert_allclose(whole.values, pool_area_ref(scene, g).values, rtol=1e-5)


def test_pooler_errors() -> None:
    g = SceneGeometry(40, 30, **SMALL)
    pooler = AreaPooler(g, 2)
    with pytest.raises(
        InputArrayError, match=r"strip must be \(bands=2, rows, width=30\), got \(2, 5, 29\)"
    ):
        pooler.add(np.zeros((2, 5, 29), np.uint16), 0)
    with pytest.raises(InputArrayError, match=r"rows 38..42 fall outside the scene's rows 0..39"):
        pooler.add(np.zeros((2, 5, 30), np.uint16), 38)
    pooler.add(np.zeros((2, 10, 30), np.uint16), 0)
    with pytest.raises(InputArrayError, match="scene row 5 was already added"):
        pooler.add(np.zeros((2, 3, 30), np.uint16), 5)
    assert not pooler.complete
    with pytest.raises(
        InputArrayError, match=r"30 scene row\(s\) were never added \(first: row 10\)"
    ):
        pooler.result()
    with pytest.raises(InputArrayError, match="bands must be a positive integer"):
        AreaPooler(g, 0)


def test_explicit_mask_replaces_nodata_value(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 2, 62, 50)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    nd = np.zeros(scene.shape[1:], dtype=bool)
    nd[5:40, 7:33] = True
    with_value = scene.copy()
    with_value[:, nd] = 0
    pooler = AreaPooler(g, 2)
    pooler.add(scene[:, :30], 0, mask=nd[:30])
    pooler.add(scene[:, 30:], 30, mask=nd[30:])
    got = pooler.result()
    want = pool_area(with_value, g, nodata=0)
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    np.testing.assert_array_equal(got.valid_fraction, want.valid_fraction)
    with pytest.raises(InputArrayError, match=r"mask must be a boolean array of the strip's"):
        AreaPooler(g, 2).add(scene, 0, mask=nd[:10])


@pytest.mark.parametrize("scale", [2, 3, 4, 7])
@pytest.mark.parametrize(("height", "width"), [(62, 93), (71, 50), (124, 31)])
def test_reduced_input_equals_pooling_its_blocks(
    rng: np.random.Generator, scale: int, height: int, width: int
) -> None:
    # A scene constant on scale x scale blocks (cut by its edge) pools to exactly what its
    # reduced image pools to with `scale`: the overview path is exact for such scenes.
    rh, rw = -(-height // scale), -(-width // scale)
    reduced = random_scene(rng, 2, rh, rw)
    reduced[:, 1:3, 2:5] = 0  # whole blocks of No Data
    scene = np.repeat(np.repeat(reduced, scale, 1), scale, 2)[:, :height, :width]
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    want = pool_area(scene, g, nodata=0)
    pooler = AreaPooler(g, 2, nodata=0, scale=scale)
    assert pooler.shape == (rh, rw)
    pooler.add(reduced[:, :2], 0)  # in strips, as the full scene
    pooler.add(reduced[:, 2:], 2)
    got = pooler.result()
    np.testing.assert_allclose(got.values, want.values, rtol=1e-6)
    np.testing.assert_allclose(got.valid_fraction, want.valid_fraction, rtol=1e-6)


def test_reduced_scale_must_fit_the_pool_ratio() -> None:
    g = SceneGeometry(40, 30, **SMALL)
    with pytest.raises(InputArrayError, match=r"from 1 to the pool ratio 7.75 .* got 8"):
        AreaPooler(g, 1, scale=8)
    with pytest.raises(InputArrayError, match=r"strip must be \(bands=1, rows, width=8\)"):
        AreaPooler(g, 1, scale=4).add(np.zeros((1, 10, 30), np.uint16), 0)
