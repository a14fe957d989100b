from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cascade import GeometryError, SceneGeometry, Window
from tests.conftest import geometries


def test_sentinel2_numbers() -> None:
    g = SceneGeometry(10980, 10980)
    assert g.core == 248
    assert g.grid_shape == (45, 45)
    assert g.n_cells == 2025
    assert g.padded_shape == (11160, 11160)
    assert g.coarse_shape == (1440, 1440)
    assert g.extended_shape == (11168, 11168)
    assert g.pool_ratio == 7.75
    assert (g.pad_bottom, g.pad_right) == (180, 180)


def test_non_square_and_tiny_scenes() -> None:
    g = SceneGeometry(1000, 1337)
    assert g.grid_shape == (5, 6)
    assert g.padded_shape == (1240, 1488)
    assert g.coarse_shape == (160, 192)
    tiny = SceneGeometry(7, 3)
    assert tiny.grid_shape == (1, 1)
    assert tiny.padded_shape == (248, 248)
    exact = SceneGeometry(496, 248)
    assert exact.grid_shape == (2, 1)
    assert (exact.pad_bottom, exact.pad_right) == (0, 0)


def test_configurable_patch_margin_stride() -> None:
    g = SceneGeometry(500, 500, patch=128, margin=8, stride=16)
    assert g.core == 112
    assert g.grid_shape == (5, 5)
    assert g.coarse_shape == (80, 80)
    assert g.pool_ratio == 7.0
    assert SceneGeometry(10, 10, patch=5, margin=0, stride=5).core == 5


def test_windows() -> None:
    g = SceneGeometry(10980, 10980)
    assert g.core_window(0, 0) == Window(0, 0, 248, 248)
    assert g.margin_window(0, 0) == Window(-4, -4, 256, 256)
    assert g.core_window(44, 2) == Window(44 * 248, 2 * 248, 248, 248)
    assert g.margin_window(1, 1) == Window(244, 244, 256, 256)
    # Neighbouring margin windows overlap by 2 * margin.
    a, b = g.margin_window(3, 4), g.margin_window(3, 5)
    assert a.intersection(b).width == 8
    with pytest.raises(GeometryError, match=r"cell \(45, 0\) is outside the 45 x 45 grid"):
        g.core_window(45, 0)
    with pytest.raises(GeometryError, match="outside"):
        g.margin_window(0, -1)


def test_window_value_type() -> None:
    w = Window(2, 3, 4, 5)
    assert (w.row_stop, w.col_stop, w.shape) == (6, 8, (4, 5))
    assert w.slices() == (slice(2, 6), slice(3, 8))
    assert w.translate(-2, 1) == Window(0, 4, 4, 5)
    assert w.intersection(Window(100, 100, 1, 1)).shape == (0, 0)
    with pytest.raises(GeometryError, match="negative offset"):
        Window(-1, 0, 2, 2).slices()
    with pytest.raises(GeometryError, match=r"Window.height must be >= 0, got -1"):
        Window(0, 0, -1, 2)
    with pytest.raises(GeometryError, match="row_off must be an integer"):
        Window(0.5, 0, 1, 1)  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        w.height = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"height": 0, "width": 10}, r"height must be >= 1, got 0"),
        ({"height": 10, "width": -5}, r"width must be >= 1, got -5"),
        ({"height": 10.5, "width": 10}, r"height must be an integer, got 10.5"),
        ({"height": True, "width": 10}, r"height must be an integer"),
        (
            {"height": 10, "width": 10, "patch": 8, "margin": 4},
            r"patch must be larger than 2 \* margin",
        ),
        ({"height": 10, "width": 10, "patch": 6, "margin": 4}, r"core would be -2"),
        ({"height": 10, "width": 10, "margin": -1}, r"margin must be >= 0, got -1"),
        ({"height": 10, "width": 10, "stride": 0}, r"stride must be >= 1, got 0"),
        ({"height": 10, "width": 10, "stride": 249}, r"stride must not exceed the cell core"),
    ],
)
def test_invalid_geometry(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(GeometryError, match=message):
        SceneGeometry(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):  # GeometryError is a ValueError
        SceneGeometry(**kwargs)  # type: ignore[arg-type]


def test_from_shape() -> None:
    assert SceneGeometry.from_shape((7, 100, 200)).scene_shape == (100, 200)
    assert SceneGeometry.from_shape((100, 200), patch=64, margin=2, stride=4).core == 60
    with pytest.raises(GeometryError, match=r"got \(1, 2, 3, 4\)"):
        SceneGeometry.from_shape((1, 2, 3, 4))


def test_check_cells() -> None:
    g = SceneGeometry(1000, 1337)
    assert g.check_cells([[4, 5], [0, 0]]).tolist() == [[4, 5], [0, 0]]
    sel = np.zeros(g.grid_shape, dtype=bool)
    sel[1, 2] = sel[3, 0] = True
    assert g.check_cells(sel).tolist() == [[1, 2], [3, 0]]
    assert g.check_cells(np.zeros((0, 2), dtype=int)).shape == (0, 2)
    with pytest.raises(GeometryError, match=r"1 cell\(s\) outside the 5 x 6 grid, first \(5, 0\)"):
        g.check_cells([[0, 0], [5, 0]])
    with pytest.raises(GeometryError, match="must not repeat"):
        g.check_cells([[1, 1], [1, 1]])
    with pytest.raises(GeometryError, match=r"\(n, 2\) integer array"):
        g.check_cells([1.0, 2.0])
    with pytest.raises(GeometryError, match=r"grid's shape \(5, 6\)"):
        g.check_cells(np.zeros((6, 5), dtype=bool))


def test_to_dict_is_json_ready() -> None:
    import json

    d = SceneGeometry(10980, 10980).to_dict()
    assert json.loads(json.dumps(d))["grid_shape"] == [45, 45]


@given(geometries())
def test_cores_tile_padded_scene_exactly_once(g: SceneGeometry) -> None:
    cover = np.zeros(g.padded_shape, dtype=np.int32)
    for row, col in g.iter_cells():
        cover[g.core_window(row, col).slices()] += 1
    assert (cover == 1).all()
    assert g.padded_shape[0] >= g.height > g.padded_shape[0] - g.core
    assert g.padded_shape[1] >= g.width > g.padded_shape[1] - g.core


@given(geometries(), st.data())
def test_margin_window_contains_core_and_lies_in_extended(
    g: SceneGeometry, data: st.DataObject
) -> None:
    row = data.draw(st.integers(0, g.rows - 1))
    col = data.draw(st.integers(0, g.cols - 1))
    core, margin_w = g.core_window(row, col), g.margin_window(row, col)
    assert margin_w.intersection(core) == core
    assert g.extended_window.intersection(margin_w) == margin_w
    assert core.row_off - margin_w.row_off == g.margin
