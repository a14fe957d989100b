from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cascade import InputArrayError, SceneGeometry
from cascade.kernels import (
    crop_padding,
    extract_patches,
    extract_windows,
    pad_scene,
    reassemble_patches,
    window_index_maps,
)
from cascade.kernels.reference import extract_patches_ref, reassemble_patches_ref
from tests.conftest import SMALL, geometries, random_scene


@pytest.mark.parametrize("mode", ["reflect", "symmetric", "edge", "constant"])
def test_extract_agrees_with_reference(rng: np.random.Generator, mode: str) -> None:
    scene = random_scene(rng, 3, 80, 65)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    cells = rng.permutation(g.cells())[:5]
    got = extract_patches(scene, g, cells, mode=mode, nodata=9)  # type: ignore[arg-type]
    want = extract_patches_ref(scene, g, cells, mode=mode, nodata=9)
    assert got.shape == (5, 39, 39, 3)
    np.testing.assert_array_equal(got, want)


def test_extract_paper_geometry(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 7, 300, 520)
    g = SceneGeometry.from_shape(scene.shape)
    got = extract_patches(scene, g, dtype=np.float32)
    assert got.shape == (g.n_cells, 256, 256, 7)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, extract_patches_ref(scene, g, g.cells()).astype(np.float32))
    # Window of cell (0, 1): scene columns 244..499 at row 0 (after the 4-row top margin).
    np.testing.assert_array_equal(got[1, 4, :, 0], scene[0, 0, 244:500])


def test_neighbouring_windows_overlap_by_two_margins(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 2, 100, 100)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    a, b = extract_patches(scene, g, [[1, 1], [1, 2]])
    np.testing.assert_array_equal(a[:, -8:], b[:, :8])


def test_reassemble_subset_any_order_and_channels(rng: np.random.Generator) -> None:
    g = SceneGeometry(70, 50, **SMALL)
    cells = np.array([[2, 1], [0, 0], [1, 1]])
    patches = rng.random((3, 39, 39, 2)).astype(np.float32)
    got = reassemble_patches(patches, g, cells, fill_value=-1)
    want = reassemble_patches_ref(patches, g, cells, fill_value=-1)
    np.testing.assert_array_equal(got, want)
    assert got.shape == (70, 50, 2)
    assert (got[0:31, 31:50] == -1).all()  # cell (0, 1) not given
    np.testing.assert_array_equal(got[62:70, 31:50], patches[0, 4:12, 4:23])
    flat = reassemble_patches(patches[..., 0], g, cells[::-1][::-1])
    np.testing.assert_array_equal(flat, reassemble_patches_ref(patches[..., 0], g, cells))


def test_reassemble_into_existing_output_keeps_other_cells(rng: np.random.Generator) -> None:
    g = SceneGeometry(62, 62, **SMALL)
    out = np.full((62, 62), 7, np.uint8)
    patches = np.ones((1, 39, 39), np.uint8)
    res = reassemble_patches(patches, g, [[1, 0]], out=out)
    assert res is out
    assert (out[31:, :31] == 1).all()
    assert (out[:31] == 7).all()
    assert (out[31:, 31:] == 7).all()
    # A non-contiguous output (a transposed view) is written through.
    base = np.zeros((62, 62), np.uint8)
    reassemble_patches(patches, g, [[0, 1]], out=base.T)
    assert (base[31:, :31] == 1).all()


@given(geometries(), st.integers(1, 3), st.sampled_from(["reflect", "constant", "edge"]), st.data())
def test_identity_model_roundtrip(
    g: SceneGeometry, bands: int, mode: str, data: st.DataObject
) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    scene = random_scene(np.random.default_rng(seed), bands, g.height, g.width)
    cells = g.cells()
    order = np.array(data.draw(st.permutations(range(len(cells)))), dtype=np.int64)
    patches = extract_patches(scene, g, cells[order], mode=mode)  # type: ignore[arg-type]
    back = reassemble_patches(patches, g, cells[order])
    np.testing.assert_array_equal(back.transpose(2, 0, 1), scene)
    # Each window equals the padded scene's slice at its margin window.
    padded = pad_scene(scene, g, mode=mode)  # type: ignore[arg-type]
    row, col = cells[order[0]]
    w = g.margin_window(int(row), int(col)).translate(g.margin, g.margin)
    np.testing.assert_array_equal(
        patches[0], padded[:, w.row_off : w.row_stop, w.col_off : w.col_stop].transpose(1, 2, 0)
    )
    assert crop_padding(padded, g).shape == scene.shape


def test_empty_selection(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 2, 40, 40)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    none = np.zeros(g.grid_shape, dtype=bool)
    assert extract_patches(scene, g, none).shape == (0, 39, 39, 2)
    out = reassemble_patches(np.zeros((0, 39, 39), np.float32), g, none, fill_value=3)
    assert (out == 3).all()


def test_patch_errors(rng: np.random.Generator) -> None:
    scene = random_scene(rng, 2, 40, 40)
    g = SceneGeometry.from_shape(scene.shape, **SMALL)
    with pytest.raises(InputArrayError, match=r"got 2 patches for 1 cells"):
        reassemble_patches(np.zeros((2, 39, 39), np.float32), g, [[0, 0]])
    with pytest.raises(InputArrayError, match=r"must be 39 x 39 .* got shape \(1, 40, 40\)"):
        reassemble_patches(np.zeros((1, 40, 40), np.float32), g, [[0, 0]])
    with pytest.raises(
        InputArrayError,
        match=r"\(n, patch, patch\) or \(n, patch, patch, channels\), got \(39, 39\)",
    ):
        reassemble_patches(np.zeros((39, 39), np.float32), g, [[0, 0]])
    with pytest.raises(
        InputArrayError, match=r"out must be a float32 array of shape \(40, 40\) .* got uint8"
    ):
        reassemble_patches(
            np.zeros((1, 39, 39), np.float32), g, [[0, 0]], out=np.zeros((40, 40), np.uint8)
        )
    with pytest.raises(ValueError, match="outside the 2 x 2 grid"):
        extract_patches(scene, g, [[0, 2]])
    with pytest.raises(InputArrayError, match="out must be a C-contiguous float32 array of shape"):
        extract_patches(
            scene, g, [[0, 0]], dtype=np.float32, out=np.zeros((1, 39, 39, 2), np.float64)
        )
    buf = np.zeros((1, 39, 39, 2), np.float32)
    assert extract_patches(scene, g, [[0, 0]], dtype=np.float32, out=buf) is buf


@pytest.mark.parametrize("mode", ["reflect", "constant", "symmetric"])
def test_windows_from_row_strips_equal_whole_scene(rng: np.random.Generator, mode: str) -> None:
    # What the engine does on disk: read only the rows a cell row's windows need.
    scene = random_scene(rng, 3, 1000, 600)
    g = SceneGeometry.from_shape(scene.shape)
    for row in range(g.rows):
        cells = np.array([[row, c] for c in range(g.cols) if (row + c) % 2 == 0])
        rows, cols = window_index_maps(g, cells, mode=mode)  # type: ignore[arg-type]
        used = rows[rows >= 0]
        lo, hi = int(used.min()), int(used.max()) + 1
        local = np.where(rows >= 0, rows - lo, -1)
        got = extract_windows(scene[:, lo:hi], local, cols, fill=9, dtype=np.float32)
        want = extract_patches(scene, g, cells, mode=mode, fill_value=9, dtype=np.float32)  # type: ignore[arg-type]
        np.testing.assert_array_equal(got, want)


def test_extract_windows_errors(rng: np.random.Generator) -> None:
    src = random_scene(rng, 2, 10, 10)
    with pytest.raises(InputArrayError, match=r"row_maps hold indices 0..10 but the source has 10"):
        extract_windows(src, [[0, 10]], [[0, 1]])
    with pytest.raises(InputArrayError, match=r"same n"):
        extract_windows(src, [[0, 1]], [[0, 1], [1, 2]])
