from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cascade import InputArrayError, SceneGeometry
from cascade.kernels import crop_padding, nodata_mask, pad_scene, padding_index_map
from cascade.kernels.reference import nodata_mask_ref, pad_scene_ref
from tests.conftest import SMALL, geometries, random_scene

MODES = ["reflect", "symmetric", "edge", "constant"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("extent", ["extended", "padded"])
def test_pad_agrees_with_numpy(rng: np.random.Generator, mode: str, extent: str) -> None:
    scene = random_scene(rng, 3, 70, 45)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    got = pad_scene(scene, g, mode=mode, extent=extent, fill_value=[1, 2, 3])  # type: ignore[arg-type]
    want = pad_scene_ref(scene, g, mode=mode, extent=extent, fill_value=[1, 2, 3])  # type: ignore[arg-type]
    assert got.dtype == scene.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64"])
def test_pad_dtypes(rng: np.random.Generator, dtype: str) -> None:
    scene = random_scene(rng, 2, 20, 33, dtype)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    np.testing.assert_array_equal(pad_scene(scene, g), pad_scene_ref(scene, g))


def test_pad_larger_than_scene_matches_numpy(rng: np.random.Generator) -> None:
    # A 5 x 3 scene padded to 248 + 8: reflections bounce many times.
    scene = random_scene(rng, 2, 5, 3)
    g = SceneGeometry.from_shape(scene.shape)
    for mode in MODES:
        np.testing.assert_array_equal(
            pad_scene(scene, g, mode=mode),  # type: ignore[arg-type]
            pad_scene_ref(scene, g, mode=mode),
        )


def test_constant_pad_defaults_to_nodata(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 2, 10, 10, "float32")
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    out = pad_scene(scene, g, mode="constant", nodata=float("nan"))
    inner = crop_padding(out, g)
    np.testing.assert_array_equal(inner, scene)
    pad_only = np.ones(out.shape[1:], dtype=bool)
    pad_only[g.margin : g.margin + 10, g.margin : g.margin + 10] = False
    assert np.isnan(out[:, pad_only]).all()
    # With nodata the padding is flagged by nodata_mask downstream.
    np.testing.assert_array_equal(nodata_mask(out, float("nan")), pad_only)
    out0 = pad_scene(scene.astype(np.uint16), g, mode="constant", nodata=7)
    assert (out0[:, pad_only] == 7).all()


def test_reflect_mirrors_nodata_like_any_pixel() -> None:
    scene = np.arange(2 * 6 * 6, dtype=np.uint16).reshape(2, 6, 6)
    scene[:, -1, :] = 0  # a nodata row at the bottom edge
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    out = pad_scene(scene, g, mode="symmetric", nodata=0, extent="padded")
    assert (out[:, 6, :6] == 0).all()  # the mirror of the nodata row


@given(geometries(), st.sampled_from(MODES), st.integers(1, 3), st.integers(0, 2**32 - 1))
def test_pad_then_crop_is_identity(g: SceneGeometry, mode: str, bands: int, seed: int) -> None:
    scene = random_scene(np.random.default_rng(seed), bands, g.height, g.width)
    for extent in ("extended", "padded"):
        padded = pad_scene(scene, g, mode=mode, extent=extent)  # type: ignore[arg-type]
        assert padded.shape[1:] == (g.extended_shape if extent == "extended" else g.padded_shape)
        np.testing.assert_array_equal(crop_padding(padded, g, extent=extent), scene)  # type: ignore[arg-type]
        np.testing.assert_array_equal(
            padded,
            pad_scene_ref(scene, g, mode=mode, extent=extent),  # type: ignore[arg-type]
        )


def test_padding_index_map_matches_numpy() -> None:
    for mode in MODES:
        got = padding_index_map(30, 11, 4, mode)  # type: ignore[arg-type]
        if mode == "constant":
            assert (got[:11] == -1).all()
            assert got[11:15].tolist() == [0, 1, 2, 3]
        else:
            np.testing.assert_array_equal(got, np.pad(np.arange(4), (11, 15), mode=mode))  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("scene", "message"),
    [
        (
            np.zeros((10, 10), np.uint16),
            r"3 dimensions \(bands, height, width\), got 2 .*scene\[numpy.newaxis\]",
        ),
        (np.zeros((1, 1, 10, 10), np.uint16), r"3 dimensions .*got 4"),
        (np.zeros((0, 10, 10), np.uint16), "empty"),
        (np.zeros((1, 10, 10), np.complex64), r"unsupported dtype complex64"),
        (np.zeros((1, 10, 10), bool), r"unsupported dtype bool"),
        ([[[1, 2]]], "must be a numpy array"),
    ],
)
def test_bad_scenes(scene: object, message: str) -> None:
    g = SceneGeometry(10, 10, **SMALL)
    with pytest.raises(InputArrayError, match=message):
        pad_scene(scene, g)  # type: ignore[arg-type]


def test_bad_arguments() -> None:
    scene = np.zeros((2, 10, 10), np.uint16)
    g = SceneGeometry(10, 10, **SMALL)
    with pytest.raises(InputArrayError, match=r"unknown padding mode 'wrap'; expected one of"):
        pad_scene(scene, g, mode="wrap")  # type: ignore[arg-type]
    with pytest.raises(InputArrayError, match=r"geometry is for a 10 x 10 scene"):
        pad_scene(np.zeros((2, 11, 10), np.uint16), g)
    with pytest.raises(InputArrayError, match=r"nodata -1 cannot occur in a uint16 scene"):
        pad_scene(scene, g, nodata=-1)
    with pytest.raises(InputArrayError, match=r"nodata is NaN but the scene dtype is uint16"):
        pad_scene(scene, g, nodata=float("nan"))
    with pytest.raises(InputArrayError, match=r"one value per band \(2\)"):
        pad_scene(scene, g, mode="constant", fill_value=[1, 2, 3])
    with pytest.raises(InputArrayError, match=r"does not fit the scene dtype uint16"):
        pad_scene(scene, g, mode="constant", fill_value=70000)
    with pytest.raises(InputArrayError, match="extent must be"):
        pad_scene(scene, g, extent="full")  # type: ignore[arg-type]
    with pytest.raises(InputArrayError, match=r"last two axes are the extended shape"):
        crop_padding(scene, g)


@pytest.mark.parametrize("nodata", [None, 0, float("nan"), -9999.0])
def test_nodata_mask_agrees(rng: np.random.Generator, nodata: float | None) -> None:
    scene = random_scene(rng, 3, 17, 23, "float32")
    fill = np.float32(0 if nodata is None else nodata)
    scene[:, :5, :5] = fill
    scene[0, 10, 10] = fill  # only one band: still data
    np.testing.assert_array_equal(nodata_mask(scene, nodata), nodata_mask_ref(scene, nodata))
    if nodata is not None:
        assert nodata_mask(scene, nodata)[:5, :5].all()
        assert not nodata_mask(scene, nodata)[10, 10]
